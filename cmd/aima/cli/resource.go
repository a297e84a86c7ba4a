package cli

import (
	"context"
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
			_, s, done, err := g.syncer()
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			slots, err := s.Budgets(ctx)
			if err != nil {
				return dockerError(err)
			}
			var items []map[string]any
			for _, u := range slots {
				if g.output == "table" {
					var parts []string
					for _, n := range sortedKeys(u.Services) {
						parts = append(parts, n)
					}
					items = append(items, map[string]any{"name": u.Name, "type": u.Type, "usage": usage(u), "services": strings.Join(parts, ",")})
					continue
				}
				items = append(items, map[string]any{"id": u.Name, "name": u.Name, "type": u.Type, "limit": u.Limit, "used": u.Used, "services": u.Services, "refused": u.Refused,
					"usage": usage(u)})
			}
			return printList(cmd.OutOrStdout(), g.output, items, []string{"name", "type", "usage", "services"})
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
