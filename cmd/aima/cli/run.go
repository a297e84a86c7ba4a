package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	units "github.com/docker/go-units"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

type runOptions struct {
	engine, name   string
	dryRun, force  bool
	timeout        time.Duration
	timeoutChanged bool
}

// newRunCmd is `aima run MODEL`: the unit model.run, with a progress bar
// for the pull and the endpoint and a curl to paste at the end.
func newRunCmd(g *globals) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run MODEL [--engine TYPE] [--name N] [--dry-run]",
		Short: "Run a model in one step: match it to this machine, write model and service, pull, start, wait",
		Long: "run looks MODEL up in the knowledge base (aima catalog list: tinyllama, qwen2.5-7b or\n" +
			"qwen2.5:7b, llama3.1-8b, gemma3-4b, mistral-7b, deepseek-r1-7b, bge-m3, ...), picks the\n" +
			"recipe this machine's hardware is best for (vLLM on an NVIDIA GPU of 16 GB or more,\n" +
			"ollama or llama.cpp on small GPUs and CPUs), checks that the model fits the free memory,\n" +
			"writes the model and a service in one commit, pulls the weights (http, huggingface;\n" +
			"an interrupted pull resumes), starts the service and waits until it is healthy.\n" +
			"A second run of the same model reuses its service. --dry-run shows the plan and\n" +
			"changes nothing. MODEL may also be a recipe's or a model file's name.",
		Example: "  aima run tinyllama --engine stub\n  aima run qwen2.5-7b\n  aima run llama3.1-8b --engine vllm --name chat --dry-run",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.timeoutChanged = cmd.Flags().Changed("timeout")
			return o.run(cmd, g, args[0])
		},
	}
	cmd.Flags().StringVar(&o.engine, "engine", "", "engine name or type: vllm, ollama, llamacpp, sglang, stub (default: the best for this hardware)")
	cmd.Flags().StringVar(&o.name, "name", "", "name of the service (default: the model's, or its existing service)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "show what would be written and done; change nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "run even when the model does not fit this machine's memory")
	durationVar(cmd.Flags(), &o.timeout, "timeout", 0, "how long to wait until healthy (default: the engine's health timeout)")
	return cmd
}

func (o *runOptions) run(cmd *cobra.Command, g *globals, model string) error {
	out := cmd.OutOrStdout()
	p := map[string]any{"model": model, "engine": o.engine, "name": o.name, "dry_run": o.dryRun, "force": o.force}
	if o.timeoutChanged {
		p["timeout"] = o.timeout.String()
	}
	ctx := cmd.Context()
	if g.output == "table" && !o.dryRun {
		pr := newPullProgress(out)
		defer pr.finish()
		ctx = unit.WithProgress(ctx, pr.update)
	}
	ans, err := callUnit(ctx, g, "model.run", p, !o.dryRun)
	if err != nil {
		return unitError(cmd, err)
	}
	if g.output != "table" {
		return printObject(out, g.output, ans)
	}
	steps, why := strs(ans["steps"]), strs(ans["why"])
	if o.dryRun {
		fmt.Fprintf(out, "aima run %s would (dry run, nothing changed):\n", model)
		for _, s := range why {
			fmt.Fprintf(out, "  because %s\n", s)
		}
		for i, s := range steps {
			fmt.Fprintf(out, "  %d. %s\n", i+1, s)
		}
		for _, it := range asList(ans["writes"]) {
			w, _ := it.(map[string]any)
			k, err := state.LookupKind(fmt.Sprint(w["kind"]))
			if err != nil {
				return err
			}
			o, err := k.FromMap(copyWithout(w, "kind"))
			if err != nil {
				return err
			}
			b, err := k.Encode(o) // as the file will read
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\n--- %s\n%s", k.Path(o.ObjectName()), b)
		}
		return nil
	}
	if ans["reused"] == true {
		fmt.Fprintf(out, "service/%v already serves %v on %v: reused\n", ans["service"], ans["model"], ans["engine"])
	} else {
		fmt.Fprintf(out, "service/%v: %v on %v (recipe %v), written in one commit\n", ans["service"], ans["model"], ans["engine"], orNone(ans["recipe"]))
	}
	status, _ := ans["status"].(string)
	endpoint, _ := ans["endpoint"].(string)
	fmt.Fprintf(out, "service/%v: %s\n", ans["service"], status)
	if status != agent.StatusRunning {
		if r, _ := ans["reason"].(string); r != "" {
			fmt.Fprintf(out, "  reason: %s\n", r)
		}
		return exitError{code: 1}
	}
	body := fmt.Sprintf(`{"model": %q, "messages": [{"role": "user", "content": "Hello!"}]}`, ans["model"])
	fmt.Fprintf(out, "\nendpoint: %s/v1\n", endpoint)
	fmt.Fprintf(out, "  curl %s/v1/chat/completions -H 'Content-Type: application/json' -d '%s'\n", endpoint, body)
	st, err := g.store()
	if err == nil {
		if info, ok := daemon.ReadAgentInfo(st.Dir); ok {
			if _, up := agentGet(cmd.Context(), st.Dir, "/api/status"); up {
				fmt.Fprintf(out, "through the agent's gateway (a token is needed):\n")
				fmt.Fprintf(out, "  curl http://%s/v1/chat/completions -H \"Authorization: Bearer $(cat %s)\" -H 'Content-Type: application/json' -d '%s'\n",
					info.Addr, filepath.Join(st.Dir, filepath.FromSlash(api.TokenPath)), body)
			}
		}
	}
	fmt.Fprintf(out, "or: aima inference chat -m %v -M 'Hello!'\n", ans["model"])
	return nil
}

// strs reads a list of strings from a unit's answer (JSON gives []any).
func strs(v any) []string {
	var out []string
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
	}
	return out
}

func orNone(v any) string {
	if s, _ := v.(string); s != "" {
		return s
	}
	return "none"
}

func copyWithout(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// pullProgress shows a pull: a progress bar per file when the output is a
// terminal, else a line at every tenth of a file (and at its end).
type pullProgress struct {
	w     io.Writer
	tty   bool
	file  string
	bar   *progressbar.ProgressBar
	tenth int64
	start time.Time
}

func newPullProgress(w io.Writer) *pullProgress {
	pr := &pullProgress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			pr.tty = true
		}
	}
	return pr
}

func (pr *pullProgress) update(file string, done, total int64) {
	if file != pr.file {
		pr.finish()
		pr.file, pr.tenth, pr.start = file, -1, time.Now()
		if pr.tty {
			pr.bar = progressbar.DefaultBytes(total, "pull "+file)
		}
	}
	if pr.bar != nil {
		_ = pr.bar.Set64(done)
		return
	}
	tenth := int64(0)
	if total > 0 {
		tenth = done * 10 / total
	}
	if tenth != pr.tenth {
		pr.tenth = tenth
		if total > 0 {
			fmt.Fprintf(pr.w, "pull %s: %d%% (%s of %s)\n", file, tenth*10, units.BytesSize(float64(done)), units.BytesSize(float64(total)))
		} else {
			fmt.Fprintf(pr.w, "pull %s: %s\n", file, units.BytesSize(float64(done)))
		}
	}
}

func (pr *pullProgress) finish() {
	if pr.bar != nil {
		_ = pr.bar.Finish()
		fmt.Fprintln(pr.w)
		pr.bar = nil
	}
	pr.file = ""
}
