package cli

import (
	"fmt"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/spf13/cobra"
)

func newPushCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "push [REMOTE] [BRANCH]",
		Short: "Send the state's commits to a remote (default origin, the same branch)",
		Long: "push sends the current branch. A remote with commits this state directory lacks is\n" +
			"refused (exit 3): aima pull first.",
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			remote, branch := argAt(args, 0), argAt(args, 1)
			res, err := st.Push(cmd.Context(), remote, branch)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return printAnswer(cmd, g, unit.PushAnswer(res))
			}
			if res.UpToDate {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s is up to date (%.12s)\n", res.Remote, res.Branch, res.Revision)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %.12s to %s/%s\n", res.Revision, res.Remote, res.Branch)
			return nil
		},
	}
}

func argAt(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// printAnswer prints a unit's typed answer as -o json|yaml shows it: the
// body of the unit's HTTP route.
func printAnswer(cmd *cobra.Command, g *globals, v any) error {
	m, err := unit.Answer(v)
	if err != nil {
		return err
	}
	return printObject(cmd.OutOrStdout(), g.output, m)
}
