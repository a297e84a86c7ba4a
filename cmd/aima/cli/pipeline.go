package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// newPipelineVerbs are `pipeline run|runs|cancel|units`. A run started here
// runs in this process (so the command waits for it, as with --wait);
// runs, cancel and the agent's API see it through its run file.
func newPipelineVerbs(g *globals) []*cobra.Command {
	var input string
	var wait bool
	run := &cobra.Command{
		Use:   "run NAME [--input JSON] [--wait]",
		Short: "Run a pipeline: its steps in dependency order, independent ones in parallel",
		Long: "Run a pipeline. The run happens in this process, so the command waits until it ends\n" +
			"(--wait is implied); `aima pipeline cancel RUN` from another terminal cancels it.\n" +
			"Step params may reference ${input.FIELD} and ${steps.ID.FIELD}.",
		Example:           `  aima pipeline run deploy --input '{"model": "qwen"}'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, state.KindPipeline),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := map[string]any{"name": args[0], "wait": true}
			if input != "" {
				m := map[string]any{}
				if err := json.Unmarshal([]byte(input), &m); err != nil {
					return fmt.Errorf("--input: not a JSON object: %v", err)
				}
				params["input"] = m
			}
			out, err := callUnit(cmd.Context(), g, "pipeline.run", params, true)
			if err != nil {
				return fieldError(err)
			}
			if err := printRun(cmd, g, out); err != nil {
				return err
			}
			if out["status"] != "completed" {
				return exitError{code: 1}
			}
			return nil
		},
	}
	run.Flags().StringVar(&input, "input", "", "run input as a JSON object, referenced as ${input.FIELD}")
	run.Flags().BoolVar(&wait, "wait", true, "wait until the run ends (always: the run happens in this process)")

	runs := &cobra.Command{
		Use:               "runs [NAME]",
		Short:             "List the runs of a pipeline (of every pipeline without NAME), newest first",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeNames(g, state.KindPipeline),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]any{}
			if len(args) == 1 {
				p["name"] = args[0]
			}
			out, err := callUnit(cmd.Context(), g, "pipeline.runs", p, false)
			if err != nil {
				return fieldError(err)
			}
			if items, _ := out["items"].([]map[string]any); g.output == "table" {
				for _, it := range items {
					if it["trigger"] == nil {
						it["trigger"] = "manual"
					}
					for _, k := range []string{"created", "finished"} {
						if t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(it[k])); err == nil {
							it[k] = t
						}
					}
				}
			}
			return printUnitOutput(cmd.OutOrStdout(), g, out, []string{"id", "pipeline", "status", "trigger", "created", "finished", "error"})
		},
	}

	cancel := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a run (running here, in the agent, or in another aima process)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := callUnit(cmd.Context(), g, "pipeline.cancel", map[string]any{"run": args[0]}, false)
			if err != nil {
				return fieldError(err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			if out["cancel_requested"] == true {
				fmt.Fprintf(cmd.OutOrStdout(), "run %s: cancel requested (it runs in process %v)\n", args[0], out["pid"])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "run %s: %v\n", args[0], out["status"])
			return nil
		},
	}

	units := &cobra.Command{
		Use:   "units",
		Short: "List every unit (operation) a pipeline step, the API and the CLI call: read or write, route, parameters",
		Long: "units lists the registry of operations: each unit's description, whether it reads or\n" +
			"writes, its HTTP route and its parameters (-o json: the JSON Schemas of its request and\n" +
			"answer, as GET /api/unit/list answers). In the table a parameter in brackets is optional.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat := unit.Catalog(unit.Default)
			if g.output != "table" {
				return printDocument(cmd.OutOrStdout(), g.output, cat)
			}
			items, _ := cat["items"].([]map[string]any)
			rows := make([]map[string]any, 0, len(items))
			for _, it := range items {
				access := "write"
				if it["read"] == true {
					access = "read"
				}
				req, _ := it["request"].(*jsonschema.Schema)
				params, _ := it["params"].(map[string]string)
				rows = append(rows, map[string]any{"name": it["name"], "access": access, "route": it["route"],
					"params": paramList(req, params), "description": it["description"]})
			}
			return printList(cmd.OutOrStdout(), "table", rows, []string{"name", "access", "route", "params", "description"})
		},
	}
	return []*cobra.Command{run, runs, cancel, units}
}

// printRun writes a run: json/yaml as it is, else a line for the run and a
// table of its steps.
func printRun(cmd *cobra.Command, g *globals, run map[string]any) error {
	if g.output != "table" {
		return printObject(cmd.OutOrStdout(), g.output, run)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "run %v of %v: %v", run["id"], run["pipeline"], run["status"])
	if e, ok := run["error"].(string); ok && e != "" {
		fmt.Fprintf(w, " (%s)", e)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tUNIT\tSTATUS\tERROR")
	steps, _ := run["steps"].([]any)
	for _, s := range steps {
		m, _ := s.(map[string]any)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(m["id"]), cell(m["unit"]), cell(m["status"]), cell(m["error"]))
	}
	return tw.Flush()
}

// paramList names a unit's parameters from its request schema, optional
// ones in brackets; a unit without a typed request names its documented
// parameters.
func paramList(req *jsonschema.Schema, documented map[string]string) string {
	var out []string
	if req != nil && req.Properties != nil {
		required := map[string]bool{}
		for _, r := range req.Required {
			required[r] = true
		}
		for p := req.Properties.Oldest(); p != nil; p = p.Next() {
			if required[p.Key] {
				out = append(out, p.Key)
			} else {
				out = append(out, "["+p.Key+"]")
			}
		}
		return strings.Join(out, " ")
	}
	for name := range documented {
		out = append(out, "["+name+"]")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
