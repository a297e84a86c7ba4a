package cli

import (
	"github.com/spf13/cobra"
)

// newAlertVerbs are `alert active` and `alert history`. They read what the
// agent recorded under .aima/.local/alerts/, so they work without it.
func newAlertVerbs(g *globals) []*cobra.Command {
	active := &cobra.Command{
		Use:   "active",
		Short: "List the alert rules firing now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := callUnit(cmd.Context(), g, "alert.active", nil, false)
			if err != nil {
				return err
			}
			return printUnitOutput(cmd.OutOrStdout(), g, out, []string{"name", "severity", "since", "condition"})
		},
	}
	var n int
	history := &cobra.Command{
		Use:   "history",
		Short: "Show firing and resolved alerts, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := callUnit(cmd.Context(), g, "alert.history", map[string]any{"n": n}, false)
			if err != nil {
				return err
			}
			return printUnitOutput(cmd.OutOrStdout(), g, out, []string{"at", "name", "state", "severity", "result"})
		},
	}
	history.Flags().IntVarP(&n, "max-count", "n", 50, "show the last N events (0: all)")
	return []*cobra.Command{active, history}
}
