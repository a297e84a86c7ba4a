package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/state"
)

func newLogCmd(g *globals) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "log [KIND/NAME]",
		Short: "Show who changed what and when (the git history of the state directory)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			path := ""
			if len(args) == 1 {
				if path, err = objectPath(args[0]); err != nil {
					return err
				}
			}
			r, err := st.Repo()
			if err != nil {
				return err
			}
			entries, err := r.Log(path, n)
			if err != nil {
				return err
			}
			if g.output != "table" {
				items := make([]map[string]any, len(entries))
				for i, c := range entries {
					items[i] = map[string]any{"id": c.Hash, "name": c.Hash[:12], "hash": c.Hash, "author": c.Author, "email": c.Email, "when": c.When, "message": c.Message, "files": c.Files}
				}
				return printList(cmd.OutOrStdout(), g.output, items, nil)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMMIT\tWHEN\tAUTHOR\tMESSAGE")
			for _, c := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Hash[:12], c.When.Local().Format("2006-01-02 15:04:05"), c.Author, strings.SplitN(c.Message, "\n", 2)[0])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVarP(&n, "max-count", "n", 0, "show at most N commits")
	return cmd
}

// objectPath turns "service/qwen" (or "services/qwen", or "services/") into
// a state-directory path.
func objectPath(arg string) (string, error) {
	kind, name, _ := strings.Cut(arg, "/")
	k, err := state.LookupKind(kind)
	if err != nil {
		return "", err
	}
	if name == "" {
		return k.Dir + "/", nil
	}
	if err := state.CheckName("name", name); err != nil {
		return "", err
	}
	return k.Path(name), nil
}
