package cli

import (
	"context"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// domainVerbs are the verbs of a domain that are units (package unit): the
// command line calls the same unit the API and pipeline steps call.
func domainVerbs(g *globals, k *state.Kind) []*cobra.Command {
	switch k {
	case state.KindPipeline:
		return newPipelineVerbs(g)
	case state.KindCatalog:
		return newCatalogVerbs(g)
	case state.KindSkill:
		return newSkillVerbs(g)
	}
	return nil
}

// callUnit runs a unit in this process. Units that act on containers get a
// syncer on the Docker daemon (created only for them: Docker is not needed
// to search skills).
func callUnit(ctx context.Context, g *globals, name string, params map[string]any, docker bool) (map[string]any, error) {
	st, err := g.store()
	if err != nil {
		return nil, err
	}
	var s *agent.Syncer
	if docker {
		var done func()
		if _, s, done, err = g.syncer(); err != nil {
			return nil, err
		}
		defer done()
	}
	out, err := unit.Default.Call(ctx, agent.UnitEnv(st, s, nil), name, params)
	return out, dockerError(err)
}

// printUnitOutput writes a unit's answer: json/yaml as it is; a table of
// its items with the given columns.
func printUnitOutput(w io.Writer, g *globals, out map[string]any, columns []string) error {
	if g.output != "table" {
		return printObject(w, g.output, out)
	}
	items, _ := out["items"].([]map[string]any)
	for _, it := range items {
		for k, v := range it {
			if strs, ok := v.([]string); ok {
				it[k] = strings.Join(strs, ",")
			}
		}
	}
	return printList(w, "table", items, columns)
}

func joinReasons(v any) string {
	rs, _ := v.([]string)
	return strings.Join(rs, "; ")
}
