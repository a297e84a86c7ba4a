package cli

import (
	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/stub"
)

// newStubCmd is the hidden entry point of the stub engine image: the image
// runs this same binary as `/aima stub serve`.
func newStubCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stub", Short: "aima's built-in OpenAI-compatible stub engine", Hidden: true}
	var opts stub.Options
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the stub engine (health, /v1/models, chat, completions, embeddings)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return stub.Serve(cmd.Context(), opts)
		},
	}
	serve.Flags().StringVar(&opts.Addr, "addr", ":8000", "listen address")
	serve.Flags().StringVar(&opts.Model, "model", "stub", "model name reported by /v1/models")
	cmd.AddCommand(serve)
	return cmd
}
