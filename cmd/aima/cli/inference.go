package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
			_, s, done, err := g.syncer()
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			endpoint, err := s.Route(ctx, model)
			if err != nil {
				return dockerError(err)
			}
			body, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": message}}})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("%s: %w", endpoint, err)
			}
			defer resp.Body.Close()
			var out struct {
				Choices []struct {
					Message struct {
						Content string `json:"content"`
					} `json:"message"`
				} `json:"choices"`
				Error any `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				return fmt.Errorf("%s answered %s: %w", endpoint, resp.Status, err)
			}
			if resp.StatusCode >= 300 || len(out.Choices) == 0 {
				return fmt.Errorf("%s answered %s: %v", endpoint, resp.Status, out.Error)
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"model": model, "endpoint": endpoint, "content": out.Choices[0].Message.Content})
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Choices[0].Message.Content)
			return nil
		},
	}
	chat.Flags().StringVarP(&model, "model", "m", "", "model to talk to (it needs a running service)")
	chat.Flags().StringVarP(&message, "message", "M", "", "the user message")
	cmd.AddCommand(chat)
	return cmd
}
