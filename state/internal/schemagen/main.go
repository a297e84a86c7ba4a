// Command schemagen writes the JSON Schemas generated from package state's
// types into schemas/. Run from the module root: go run ./state/internal/schemagen
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aima-dev/aima/state"
)

func main() {
	out, err := state.GenerateSchemas("state")
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
	for name, b := range out {
		if err := os.WriteFile(filepath.Join("schemas", name), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "schemagen:", err)
			os.Exit(1)
		}
	}
}
