package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newFleetCmd is `aima fleet status|diff`: every host of hosts/ asked for
// what it runs (the fleet.status and fleet.diff units).
func newFleetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "fleet", Short: "The hosts that follow this repository: what each runs, which lag", GroupID: "domains"}
	for _, verb := range []string{"status", "diff"} {
		short := "Ask every host's agent (hosts/, tokens in .aima/.local/fleet.yaml) what it runs; a host that is down is reported, not waited for"
		if verb == "diff" {
			short = "Show which hosts lag this state directory's HEAD (push first), or cannot be asked"
		}
		cmd.AddCommand(&cobra.Command{
			Use:   verb,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				out, err := callUnit(cmd.Context(), g, "fleet."+verb, nil, false)
				if err != nil {
					return err
				}
				if g.output != "table" {
					return printObject(cmd.OutOrStdout(), g.output, out)
				}
				printFleet(cmd, out, verb == "status")
				return nil
			},
		})
	}
	return cmd
}

// printFleet writes one line per host (revision against HEAD, reachable or
// why not) and, for status, its services and apps.
func printFleet(cmd *cobra.Command, out map[string]any, objects bool) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tREACHABLE\tREVISION\tSTATE\tERROR")
	items, _ := out["items"].([]any)
	head := fmt.Sprint(out["head"])
	for _, it := range items {
		h, _ := it.(map[string]any)
		rev, _ := h["revision"].(string)
		state := "unreachable"
		switch {
		case h["reachable"] == true && h["in_sync"] == true:
			state = "in sync"
		case h["reachable"] == true && rev != "":
			state = "behind " + short(head)
		case h["reachable"] == true:
			state = "no revision"
		}
		errText := cell(h["error"])
		if le, _ := h["last_error"].(string); le != "" {
			errText = "follow: " + le
		}
		fmt.Fprintf(w, "%s\t%v\t%s\t%s\t%s\n", h["name"], h["reachable"], cell(short(rev)), state, errText)
	}
	w.Flush()
	if !objects {
		return
	}
	for _, it := range items {
		h, _ := it.(map[string]any)
		objs, _ := h["objects"].([]any)
		if len(objs) == 0 {
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "\n%s:\n", h["name"])
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		for _, o := range objs {
			m, _ := o.(map[string]any)
			fmt.Fprintf(w, "  %s/%s\t%s\t%s\n", m["kind"], m["name"], m["status"], cell(m["reason"]))
		}
		w.Flush()
	}
}

func short(rev string) string {
	rev = strings.TrimSpace(rev)
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}
