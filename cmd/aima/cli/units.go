package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// domainVerbs are the verbs of a domain that are units (package unit): the
// command line calls the same unit the API and pipeline steps call.
func domainVerbs(g *globals, k *state.Kind) []*cobra.Command {
	switch k {
	case state.KindModel:
		return []*cobra.Command{newModelPullCmd(g)}
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
	out, err := unit.Default.Call(ctx, daemon.UnitEnv(st, s, nil), name, params)
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

func newModelPullCmd(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a model's weights (source http or huggingface) and set its path, in one commit",
		Long: "pull downloads the weights of a model whose source is http (its url) or huggingface\n" +
			"(the files of repo at tag that engines load, through $HF_ENDPOINT, default https://huggingface.co, with\n" +
			"$HF_TOKEN for gated repos) into .aima/.local/models/NAME/ (or --to DIR, a directory under\n" +
			".aima/.local/models/; a relative DIR is taken from there), verifies a\n" +
			"sha256 checksum when the model has one, and sets the model's path: services of the\n" +
			"model are recreated with the weights mounted. Files already present are kept; an\n" +
			"interrupted download resumes where it stopped (HTTP Range). A local\n" +
			"model's path is checked; ollama models are pulled by the ollama engine itself.",
		Example: "  aima model pull qwen2-7b\n  aima model pull tiny --to tiny-q4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if g.output == "table" {
				pr := newPullProgress(cmd.OutOrStdout())
				defer pr.finish()
				ctx = unit.WithProgress(ctx, pr.update)
			}
			out, err := callUnit(ctx, g, "model.pull", map[string]any{"name": args[0], "to": to}, false)
			if err != nil {
				return fieldError(err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			files, _ := out["files"].([]string)
			fmt.Fprintf(cmd.OutOrStdout(), "model/%s: %d file(s), %v bytes, %v downloaded now -> %v\n", args[0], len(files), out["bytes"], out["downloaded"], out["path"])
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "directory for the weights, under .aima/.local/models/ (relative: from there; default NAME)")
	return cmd
}
