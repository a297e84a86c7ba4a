// Command aima is a file-backed GitOps agent for AI inference.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/aima-dev/aima/cmd/aima/cli"
)

func main() {
	// AIMA_CPUPROFILE=FILE writes a CPU profile of this command (go tool
	// pprof), the way kubectl's --profile does: for finding where a slow
	// command spends its time.
	if path := os.Getenv("AIMA_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				code := cli.Main()
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
		fmt.Fprintln(os.Stderr, "aima: AIMA_CPUPROFILE: cannot write", path)
	}
	os.Exit(cli.Main())
}
