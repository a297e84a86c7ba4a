package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/state"
)

// newSkillVerbs are `skill search`, `skill enable` and `skill disable`.
func newSkillVerbs(g *globals) []*cobra.Command {
	search := &cobra.Command{
		Use:     "search QUERY...",
		Short:   "Search the enabled skills; name and keyword hits rank above content hits, then priority",
		Example: "  aima skill search gpu memory",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := callUnit(cmd.Context(), g, "skill.search", map[string]any{"query": strings.Join(args, " ")}, false)
			if err != nil {
				return fieldError(err)
			}
			return printUnitOutput(cmd.OutOrStdout(), g, out, []string{"name", "score", "matched", "description"})
		},
	}
	verbs := []*cobra.Command{search}
	for _, verb := range []string{"enable", "disable"} {
		verbs = append(verbs, &cobra.Command{
			Use:               verb + " NAME",
			Short:             fmt.Sprintf("%s a skill (a commit; a built-in gets an override file)", strings.ToUpper(verb[:1])+verb[1:]),
			Args:              cobra.ExactArgs(1),
			ValidArgsFunction: completeNames(g, state.KindSkill),
			RunE: func(cmd *cobra.Command, args []string) error {
				out, err := callUnit(cmd.Context(), g, "skill."+verb, map[string]any{"name": args[0]}, false)
				if err != nil {
					return fieldError(err)
				}
				if g.output != "table" {
					return printObject(cmd.OutOrStdout(), g.output, out)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "skill/%s %sd\n", args[0], verb)
				return nil
			},
		})
	}
	return verbs
}
