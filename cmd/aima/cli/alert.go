package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/alert"
)

// newAlertVerbs are `alert active` and `alert history`. They read what the
// agent recorded under .aima/.local/alerts/, so they work without it.
func newAlertVerbs(g *globals) []*cobra.Command {
	active := &cobra.Command{
		Use:   "active",
		Short: "List the alert rules firing now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			e := &alert.Engine{Store: st}
			var items []map[string]any
			for _, a := range e.Active() {
				items = append(items, map[string]any{"id": a.Rule, "name": a.Rule, "severity": a.Severity, "condition": a.Condition, "since": a.Since})
			}
			return printList(cmd.OutOrStdout(), g.output, items, []string{"name", "severity", "since", "condition"})
		},
	}
	var n int
	history := &cobra.Command{
		Use:   "history",
		Short: "Show firing and resolved alerts, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			evs, err := (&alert.Engine{Store: st}).History(n)
			if err != nil {
				return err
			}
			var items []map[string]any
			for i, ev := range evs {
				items = append(items, map[string]any{"id": fmt.Sprint(i + 1), "name": ev.Rule, "state": ev.State, "severity": ev.Severity, "at": ev.At, "result": ev.Result})
			}
			return printList(cmd.OutOrStdout(), g.output, items, []string{"at", "name", "state", "severity", "result"})
		},
	}
	history.Flags().IntVarP(&n, "max-count", "n", 50, "show the last N events (0: all)")
	return []*cobra.Command{active, history}
}
