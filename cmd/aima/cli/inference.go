package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newInferenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "inference", Short: "Talk to models through their running services", GroupID: "domains"}
	var model, message string
	chat := &cobra.Command{
		Use:     "chat -m MODEL -M MESSAGE",
		Short:   "Send one chat message to a running service of MODEL and print the answer",
		Example: `  aima inference chat -m tinyllama -M "hello"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" || message == "" {
				return fmt.Errorf("-m MODEL and -M MESSAGE are required")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			out, err := callUnit(ctx, g, "inference.chat", map[string]any{"model": model, "message": message}, true)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out["content"])
			return nil
		},
	}
	chat.Flags().StringVarP(&model, "model", "m", "", "model to talk to (it needs a running service)")
	chat.Flags().StringVarP(&message, "message", "M", "", "the user message")
	cmd.AddCommand(chat)
	return cmd
}
