// Package cli is the aima command line. Main is the process entry point, so
// testscript can register the same function as the `aima` command.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/state"
)

// Main runs the aima command line and returns the process exit code.
func Main() int {
	// CLI commands are short-lived and allocate little: collecting garbage
	// less often saves a few milliseconds per command. The agent sets it
	// back (see start).
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		var ec exitCoder
		if asExitCoder(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "aima:", msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "aima:", err)
		return exitCode(err)
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "aima",
		Short:         "aima: a file-backed GitOps agent for AI inference",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g := &globals{}
	g.register(root)
	root.AddGroup(&cobra.Group{ID: "domains", Title: "Domains (each object is a file in the state directory):"})
	for _, k := range state.Kinds {
		root.AddCommand(newDomainCmd(g, k))
	}
	root.AddCommand(newInitCmd(g), newValidateCmd(g), newApplyCmd(g), newLogCmd(g), newStubCmd(), newVersionCmd(),
		newStartCmd(g), newDiffCmd(g), newSyncCmd(g), newStatusCmd(g), newRollbackCmd(g), newInferenceCmd(g),
		newDeviceCmd(g), newFleetCmd(g))
	root.AddCommand(newRemoteCmd(g), newPushCmd(g), newPullCmd(g), newShowCmd(g))
	root.AddCommand(newAPICmd(g), newMCPCmd(g), newRunCmd(g), newAgentCmd(g), newUICmd(g))
	return root
}
