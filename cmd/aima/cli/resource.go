package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
)

// newResourceStatusCmd is `resource status`: each slot's limit, live total
// and what each service draws, and the services it refuses.
func newResourceStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each resource slot's limit, what services use, and which it refuses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			out, err := callUnit(ctx, g, "resource.status", nil, true)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			items, _ := out["items"].([]map[string]any)
			rows := make([]map[string]any, 0, len(items))
			for _, it := range items {
				var u agent.SlotUsage
				if b, err := json.Marshal(it); err != nil || json.Unmarshal(b, &u) != nil {
					continue
				}
				rows = append(rows, map[string]any{"name": u.Name, "type": u.Type, "usage": usage(u), "services": strings.Join(sortedKeys(u.Services), ",")})
			}
			return printList(cmd.OutOrStdout(), "table", rows, []string{"name", "type", "usage", "services"})
		},
	}
}

func usage(u agent.SlotUsage) string {
	f := func(v float64) string {
		if u.Type == "cpu" {
			return fmt.Sprintf("%g", v)
		}
		return fmt.Sprintf("%.1fGi", v/(1<<30))
	}
	s := f(u.Used) + " / " + f(u.Limit)
	if len(u.Refused) > 0 {
		var names []string
		for n := range u.Refused {
			names = append(names, n)
		}
		sort.Strings(names)
		s += " (refused: " + strings.Join(names, ", ") + ")"
	}
	return s
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
