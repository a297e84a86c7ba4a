package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aima-dev/aima/agent/mcp"
	"github.com/aima-dev/aima/agent/operator"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/spf13/cobra"
)

func newLogCmd(g *globals) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "log [KIND/NAME]",
		Short: "Show who changed what and when (the git history of the state directory)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]any{"n": n}
			if len(args) == 1 {
				path, err := unit.ObjectPath(args[0])
				if err != nil {
					return err
				}
				p["path"] = path
			}
			out, err := callUnit(cmd.Context(), g, "state.log", p, false)
			if err != nil {
				return fieldError(err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			items, _ := out["items"].([]map[string]any)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMMIT\tWHEN\tAUTHOR\tMESSAGE")
			for _, c := range items {
				when, _ := c["when"].(time.Time)
				msg, _ := c["message"].(string)
				author := fmt.Sprint(c["author"])
				author += via(msg)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c["name"], when.Local().Format("2006-01-02 15:04:05"), author, strings.SplitN(msg, "\n", 2)[0])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVarP(&n, "max-count", "n", 0, "show at most N commits")
	return cmd
}

// via tells a human's change from an AI's by a commit's trailers: " via
// <client>" for a write an MCP client made, " via operator <conversation>"
// for the operator's (proposed, or run at once with --yes).
func via(msg string) string {
	trailer := func(key string) string {
		if _, v, ok := strings.Cut(msg, "\n"+key+": "); ok {
			return strings.SplitN(v, "\n", 2)[0]
		}
		return ""
	}
	if c := trailer(operator.Trailer); c != "" {
		return " via operator " + c
	}
	if c := trailer(mcp.ClientTrailer); c != "" {
		return " via " + c
	}
	return ""
}
