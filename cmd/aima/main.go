// Command aima is a file-backed GitOps agent for AI inference.
package main

import (
	"os"

	"github.com/aima-dev/aima/cmd/aima/cli"
)

func main() { os.Exit(cli.Main()) }
