package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// listColumns are the table columns of `<domain> list`.
var listColumns = map[*state.Kind][]string{
	state.KindModel:    {"name", "source", "repo", "type"},
	state.KindEngine:   {"name", "type", "image", "gpu", "source"},
	state.KindService:  {"name", "model", "engine", "port", "status", "reason"},
	state.KindApp:      {"name", "image", "ports", "status", "reason"},
	state.KindCatalog:  {"name", "engine_type", "source", "description"},
	state.KindSkill:    {"name", "category", "enabled", "source", "description"},
	state.KindPipeline: {"name", "description", "schedule"},
	state.KindAlert:    {"name", "condition", "action", "severity"},
	state.KindResource: {"name", "type", "limit", "applies_to"},
	state.KindHost:     {"name", "url", "labels", "description"},
}

// newDomainCmd builds `aima <domain> create|list|get|update|delete`.
func newDomainCmd(g *globals, k *state.Kind) *cobra.Command {
	cmd := &cobra.Command{
		Use:     k.Name,
		Short:   fmt.Sprintf("Manage %s objects (files in %s/)", k.Name, k.Dir),
		GroupID: "domains",
	}
	if k == state.KindCatalog {
		cmd.Aliases = []string{"recipe"}
	}
	cmd.AddCommand(newCreateCmd(g, k), newListCmd(g, k), newGetCmd(g, k), newUpdateCmd(g, k), newDeleteCmd(g, k))
	if k == state.KindEngine {
		cmd.AddCommand(newBuildStubCmd())
	}
	if k == state.KindAlert {
		cmd.AddCommand(newAlertVerbs(g)...)
	}
	cmd.AddCommand(domainVerbs(g, k)...)
	if k == state.KindResource {
		cmd.AddCommand(newResourceStatusCmd(g))
	}
	if hasContainers(k) {
		cmd.AddCommand(newStateCmd(g, k, "running"), newStateCmd(g, k, "stopped"), newLogsCmd(g, k), newRenderCmd(g, k))
	}
	return cmd
}

// completeNames completes object names of the kind.
func completeNames(g *globals, k *state.Kind) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		st, err := g.store()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		entries, _ := st.List(k)
		var names []string
		for _, e := range entries {
			names = append(names, e.Object.ObjectName())
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

type createOptions struct {
	name   string
	file   string
	fields []field
	// service only: the scenario's flag forms.
	modelID    string
	engineType string
}

func newCreateCmd(g *globals, k *state.Kind) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create [--name NAME] [--FIELD VALUE ...] [-f FILE]",
		Short: fmt.Sprintf("Create a %s (writes %s/<name>%s and commits it)", k.Name, k.Dir, k.Ext),
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g, k) },
	}
	cmd.Flags().StringVar(&o.name, "name", "", "name of the new object (also its id and file name)")
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "read the object from a YAML or JSON file ('-' for stdin); flags override its fields")
	o.fields = addFieldFlags(cmd, k)
	if k == state.KindService {
		cmd.Flags().StringVar(&o.modelID, "model-id", "", "model to serve (same as --model)")
		cmd.Flags().StringVar(&o.engineType, "engine-type", "", "engine name or type to serve it with, e.g. vllm or stub (same as --engine)")
		cmd.Use = "create [--name NAME] --model-id MODEL --engine-type ENGINE [--port PORT] [...]"
		cmd.Example = "  aima service create --model-id tinyllama --engine-type stub\n  aima service create --name chat --model qwen2-7b --engine vllm --port 8001"
	}
	return cmd
}

func (o *createOptions) run(cmd *cobra.Command, g *globals, k *state.Kind) error {
	env, err := g.unitEnv(g.output != "table")
	if err != nil {
		return err
	}
	m := map[string]any{}
	if o.file != "" {
		if m, err = readObjectFile(o.file, k); err != nil {
			return err
		}
	}
	if err := collect(cmd.Flags(), o.fields, m, false); err != nil {
		return err
	}
	if o.name != "" {
		m["name"] = o.name
	}
	var aliased map[string]string
	if k == state.KindService {
		// The unit takes the scenario's forms and derives the name.
		aliased = o.aliases(m)
	} else if _, ok := m["name"]; !ok {
		return fmt.Errorf("--name is required")
	}
	out, err := unit.Default.Call(cmd.Context(), env, k.Name+".create", m)
	if err != nil {
		return unitError(cmd, renameFields(err, aliased))
	}
	return printWritten(cmd, g, k, out, "created")
}

// aliases passes --model-id and --engine-type as the unit's model_id and
// engine_type. It returns the fields whose problems are to be shown with
// those flags: the ones given with them, and the ones not given at all
// (the scenario's form is the one to suggest).
func (o *createOptions) aliases(m map[string]any) map[string]string {
	out := map[string]string{}
	for _, a := range []struct{ field, alias, val string }{{"model", "model_id", o.modelID}, {"engine", "engine_type", o.engineType}} {
		if _, given := m[a.field]; a.val != "" || !given {
			out["/"+a.field] = "/" + a.alias
		}
		if a.val != "" {
			m[a.alias] = a.val
		}
	}
	return out
}

// renameFields moves the problems of err (those of no file) from one field
// to another, so that flagError names the flag the user gave.
func renameFields(err error, fields map[string]string) error {
	var ie *state.InvalidError
	if len(fields) == 0 || !errors.As(err, &ie) {
		return err
	}
	for i, p := range ie.Problems {
		if to, ok := fields[p.Field]; ok && p.File == "" {
			ie.Problems[i].Field = to
		}
	}
	return err
}

// unitEnv is the environment the object commands call their units with,
// in this process. With observe, services and apps carry their observed
// status, from the running agent when one answers (it knows what Docker
// alone does not say: why a create failed, restarts), else from Docker.
func (g *globals) unitEnv(observe bool) (*unit.Env, error) {
	st, err := g.store()
	if err != nil {
		return nil, err
	}
	env := daemon.UnitEnv(st, nil, nil)
	if observe {
		env.Observed = func(ctx context.Context) func(kind, name string) map[string]any {
			return observedLookup(statuses(ctx, g))
		}
	}
	return env, nil
}

// observedLookup is Env.Observed over statuses: an object the agent (or
// Docker) has no status for has none, as in the API's answer; nil
// statuses (nobody could be asked) make every object unknown.
func observedLookup(sts map[agent.Object]agent.Status) func(kind, name string) map[string]any {
	return func(kind, name string) map[string]any {
		if sts == nil {
			return agent.Status{Status: agent.StatusUnknown, Reason: "could not ask Docker"}.Map()
		}
		if st, ok := sts[agent.Object{Kind: kind, Name: name}]; ok {
			return st.Map()
		}
		return nil
	}
}

// unitError is flagError for the error of a unit, keeping what the unit
// said before the problems (`model "x" has no valid version: ...`).
func unitError(cmd *cobra.Command, err error) error {
	var ie *state.InvalidError
	if errors.As(err, &ie) {
		if before, ok := strings.CutSuffix(err.Error(), ie.Error()); ok && before != "" {
			return fmt.Errorf("%s%w", before, flagError(cmd, ie))
		}
	}
	return flagError(cmd, err)
}

// printWritten prints the answer of a create or update: a line (with the
// port of a service), or with -o json|yaml the answer itself.
func printWritten(cmd *cobra.Command, g *globals, k *state.Kind, out map[string]any, verb string) error {
	if g.output != "table" {
		return printObject(cmd.OutOrStdout(), g.output, out)
	}
	extra := ""
	if k == state.KindService {
		extra = fmt.Sprintf(" (port %s)", cell(out["port"]))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s%s\n", k.Name, cell(out["name"]), verb, extra)
	return nil
}

// warnProblems prints the problems list or get found in an object's file
// (the object shown is its last committed version).
func warnProblems(cmd *cobra.Command, item map[string]any, suffix string) {
	if ps, ok := item["problems"].([]state.Problem); ok && len(ps) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "aima: warning: %v%s\n", fieldError(&state.InvalidError{Problems: ps}), suffix)
	}
}

// readObjectFile reads one object from YAML or JSON ('-' = stdin).
func readObjectFile(path string, k *state.Kind) (map[string]any, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = readAllLimited(os.Stdin)
	} else {
		var fi os.FileInfo
		if fi, err = os.Stat(path); err == nil && fi.Size() > state.MaxFileSize {
			return nil, fmt.Errorf("-f %s: file is %d bytes; the limit is %d", path, fi.Size(), state.MaxFileSize)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("-f: %w", err)
	}
	// Decode through the kind's own decoder (limits, positions), without a
	// file name so the name comes from the content.
	obj, err := k.Decode("", b)
	if err != nil {
		// Problems are about the -f file: name it, so positions are shown.
		name := path
		if path == "-" {
			name = "<stdin>"
		}
		var ie *state.InvalidError
		if errors.As(err, &ie) {
			for i := range ie.Problems {
				if ie.Problems[i].File == "" {
					ie.Problems[i].File = name
				}
			}
		}
		return nil, fieldError(err)
	}
	return state.ToMap(obj), nil
}

func readAllLimited(f *os.File) ([]byte, error) {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 32*1024)
	for {
		n, err := f.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if len(buf) > state.MaxFileSize {
			return nil, fmt.Errorf("input is over the %d-byte limit", state.MaxFileSize)
		}
		if err != nil {
			if err.Error() == "EOF" {
				return buf, nil
			}
			return nil, err
		}
	}
}

func newListCmd(g *globals, k *state.Kind) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   fmt.Sprintf("List %s objects", k.Name),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := g.unitEnv(true)
			if err != nil {
				return err
			}
			out, err := unit.Default.Call(cmd.Context(), env, k.Name+".list", nil)
			if err != nil {
				return unitError(cmd, err)
			}
			items, _ := out["items"].([]map[string]any)
			for _, it := range items {
				warnProblems(cmd, it, "")
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			return printList(cmd.OutOrStdout(), g.output, items, listColumns[k])
		},
	}
}

func newGetCmd(g *globals, k *state.Kind) *cobra.Command {
	return &cobra.Command{
		Use:               "get NAME",
		Short:             fmt.Sprintf("Show one %s", k.Name),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := g.unitEnv(true)
			if err != nil {
				return err
			}
			out, err := unit.Default.Call(cmd.Context(), env, k.Name+".get", map[string]any{"id": args[0]})
			if err != nil {
				return unitError(cmd, err)
			}
			warnProblems(cmd, out, " (showing the last committed version)")
			return printObject(cmd.OutOrStdout(), g.output, out)
		},
	}
}

type updateOptions struct {
	file     string
	revision string
	fields   []field
}

func newUpdateCmd(g *globals, k *state.Kind) *cobra.Command {
	o := &updateOptions{}
	cmd := &cobra.Command{
		Use:               "update NAME [--FIELD VALUE ...] [-f FILE]",
		Short:             fmt.Sprintf("Change a %s (built-ins get an override file)", k.Name),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, k),
		RunE:              func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, k, args[0]) },
	}
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "replace the object with the content of a YAML or JSON file; flags override its fields")
	cmd.Flags().StringVar(&o.revision, "revision", "", "refuse the update unless the object is still at this revision (from get -o json)")
	o.fields = addFieldFlags(cmd, k)
	return cmd
}

// replaceTries bounds how often `update -f` (without --revision) computes
// its patch again when another writer changed the object meanwhile.
const replaceTries = 10

// run sends the flags as a merge patch to the update unit. -f replaces the
// object: the patch is what turns the current version into the file's
// (fields it lacks become null), computed against a revision the unit
// holds the update to, so a concurrent change is never silently undone.
func (o *updateOptions) run(cmd *cobra.Command, g *globals, k *state.Kind, name string) error {
	env, err := g.unitEnv(g.output != "table")
	if err != nil {
		return err
	}
	var want map[string]any
	if o.file != "" {
		if want, err = readObjectFile(o.file, k); err != nil {
			return err
		}
		if n, ok := want["name"]; ok && n != name {
			return fmt.Errorf("-f %s: name %v does not match %q", o.file, n, name)
		}
		want["name"] = name
		if err := collect(cmd.Flags(), o.fields, want, false); err != nil {
			return err
		}
	}
	changed := o.file != ""
	for _, f := range o.fields {
		changed = changed || cmd.Flags().Changed(f.flag)
	}
	if !changed {
		return fmt.Errorf("nothing to change: give --FIELD VALUE flags or -f FILE (see --help)")
	}
	update := func() (map[string]any, error) {
		patch, rev := map[string]any{}, o.revision
		if want != nil {
			e, err := env.Store.Get(k, name)
			if err != nil {
				return nil, err
			}
			if e.Object == nil {
				return nil, fmt.Errorf("%s %q has no valid version: %w", k.Name, name, e.Problem)
			}
			if rev == "" {
				rev = e.Revision
			}
			patch = replacePatch(state.ToMap(e.Object), want)
		} else if err := collect(cmd.Flags(), o.fields, patch, true); err != nil {
			return nil, err
		}
		patch["name"] = name
		if rev != "" {
			patch["revision"] = rev
		}
		return unit.Default.Call(cmd.Context(), env, k.Name+".update", patch)
	}
	out, err := update()
	for i := 1; want != nil && o.revision == "" && errors.Is(err, state.ErrConflict) && i < replaceTries; i++ {
		out, err = update()
	}
	if err != nil {
		return unitError(cmd, err)
	}
	return printWritten(cmd, g, k, out, "updated")
}

// replacePatch is the JSON merge patch (RFC 7396) that turns cur into
// want: fields want lacks are null, objects are patched key by key.
func replacePatch(cur, want map[string]any) map[string]any {
	p := map[string]any{}
	for key := range cur {
		if _, ok := want[key]; !ok {
			p[key] = nil
		}
	}
	for key, v := range want {
		wm, isMap := v.(map[string]any)
		if cm, ok := cur[key].(map[string]any); ok && isMap {
			p[key] = replacePatch(cm, wm)
			continue
		}
		p[key] = v
	}
	return p
}

func newDeleteCmd(g *globals, k *state.Kind) *cobra.Command {
	var revision string
	cmd := &cobra.Command{
		Use:               "delete NAME",
		Aliases:           []string{"rm"},
		Short:             fmt.Sprintf("Delete a %s (removes its file and commits)", k.Name),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := g.unitEnv(false)
			if err != nil {
				return err
			}
			p := map[string]any{"id": args[0]}
			if revision != "" {
				p["revision"] = revision
			}
			out, err := unit.Default.Call(cmd.Context(), env, k.Name+".delete", p)
			if err != nil {
				return unitError(cmd, err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", k.Name, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "refuse the delete unless the object is still at this revision")
	return cmd
}
