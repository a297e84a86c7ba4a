package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/docker"
)

// newBuildStubCmd is `aima engine build-stub`: build the stub engine image
// from this binary through the Docker API (nothing is pulled).
func newBuildStubCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "build-stub",
		Short: "Build the stub engine image (FROM scratch, this aima binary) through the Docker API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := docker.New()
			if err != nil {
				return err
			}
			defer rt.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			tag, err := agent.StubImageFunc(rt)(ctx)
			if err != nil {
				return dockerError(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tag)
			return nil
		},
	}
}
