package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRollbackCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback REV [KIND/NAME]",
		Short: "Restore the state (or one object) as it was at REV, as a new commit; the agent converges",
		Example: "  aima rollback HEAD~1                 # undo the last change\n" +
			"  aima rollback 3f2a9c1 service/chat   # one object back to an older revision",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]any{"rev": args[0]}
			if len(args) == 2 {
				p["object"] = args[1]
			}
			out, err := callUnit(cmd.Context(), g, "state.rollback", p, false)
			if err != nil {
				return fieldError(err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			paths, _ := out["paths"].([]any)
			if len(paths) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to roll back: already as at", args[0])
				return nil
			}
			for _, p := range paths {
				fmt.Fprintf(cmd.OutOrStdout(), "restored %s\n", p)
			}
			return nil
		},
	}
}
