package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/unit"
)

func newInferenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "inference", Short: "Talk to models through their running services", GroupID: "domains"}
	var model, message string
	var maxTokens int
	var temperature float64
	var stream bool
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
			p := map[string]any{"model": model, "message": message}
			if cmd.Flags().Changed("max-tokens") {
				p["max_tokens"] = maxTokens
			}
			if cmd.Flags().Changed("temperature") {
				p["temperature"] = temperature
			}
			if stream {
				p["stream"] = true
				if g.output == "table" { // text: each piece as it comes
					ctx = unit.WithStream(ctx, func(piece string) { fmt.Fprint(cmd.OutOrStdout(), piece) })
				}
			}
			out, err := callUnit(ctx, g, "inference.chat", p, true)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			if stream {
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), out["content"])
			return nil
		},
	}
	chat.Flags().StringVarP(&model, "model", "m", "", "model to talk to (it needs a running service)")
	chat.Flags().StringVarP(&message, "message", "M", "", "the user message")
	chat.Flags().IntVar(&maxTokens, "max-tokens", 0, "at most this many tokens in the answer")
	chat.Flags().Float64Var(&temperature, "temperature", 0, "sampling temperature (0: the most likely tokens)")
	chat.Flags().BoolVar(&stream, "stream", false, "print the answer as the engine streams it")
	cmd.AddCommand(chat)
	return cmd
}
