package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/state"
)

// listColumns are the table columns of `<domain> list`.
var listColumns = map[*state.Kind][]string{
	state.KindModel:    {"name", "source", "repo", "type"},
	state.KindEngine:   {"name", "type", "image", "gpu", "source"},
	state.KindService:  {"name", "model", "engine", "port", "status", "reason"},
	state.KindApp:      {"name", "image", "ports", "status", "reason"},
	state.KindCatalog:  {"name", "engine_type", "description"},
	state.KindSkill:    {"name", "category", "source", "description"},
	state.KindPipeline: {"name", "description", "schedule"},
	state.KindAlert:    {"name", "condition", "action", "severity"},
	state.KindResource: {"name", "type", "limit", "applies_to"},
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
		cmd.AddCommand(newStateCmd(g, k, "running"), newStateCmd(g, k, "stopped"), newLogsCmd(g, k))
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
	st, err := g.store()
	if err != nil {
		return err
	}
	m := map[string]any{}
	if o.file != "" {
		if m, err = readObjectFile(o.file, k); err != nil {
			return err
		}
	}
	if err := collect(cmd.Flags(), o.fields, m); err != nil {
		return err
	}
	if o.name != "" {
		m["name"] = o.name
	}
	_, named := m["name"]
	if k == state.KindService {
		if err := o.service(st, m); err != nil {
			return flagError(cmd, err)
		}
	}
	if _, ok := m["name"]; !ok {
		return fmt.Errorf("--name is required")
	}
	obj, err := k.FromMap(m)
	if err != nil {
		return flagError(cmd, err)
	}
	e, err := st.Create(k, obj)
	// A derived service name can be taken by a concurrent create between
	// deriving it and taking the lock: derive the next free one and retry.
	for i := 0; k == state.KindService && !named && errors.Is(err, state.ErrExists) && i < 100; i++ {
		delete(m, "name")
		if err = o.service(st, m); err != nil {
			break
		}
		if obj, err = k.FromMap(m); err != nil {
			break
		}
		e, err = st.Create(k, obj)
	}
	if err != nil {
		return flagError(cmd, err)
	}
	return printCreated(cmd, g, k, e, "created")
}

// service resolves the scenario's --model-id/--engine-type forms, accepts an
// engine type where a name is expected, and derives a name when none is given.
func (o *createOptions) service(st *state.Store, m map[string]any) error {
	if o.modelID != "" {
		m["model"] = o.modelID
	}
	if o.engineType != "" {
		m["engine"] = o.engineType
	}
	model, _ := m["model"].(string)
	engine, _ := m["engine"].(string)
	if model == "" {
		return fmt.Errorf("--model-id (or --model) is required")
	}
	if engine == "" {
		return fmt.Errorf("--engine-type (or --engine) is required")
	}
	name, err := st.ResolveEngine(engine)
	if err != nil {
		return err
	}
	m["engine"] = name
	if _, ok := m["name"]; !ok && state.ValidName(model) {
		m["name"] = st.ServiceName(model, name)
	}
	return nil
}

func printCreated(cmd *cobra.Command, g *globals, k *state.Kind, e state.Entry, verb string) error {
	if g.output == "table" {
		extra := ""
		if svc, ok := e.Object.(*state.Service); ok {
			extra = fmt.Sprintf(" (port %d)", svc.Port)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s%s\n", k.Name, e.Object.ObjectName(), verb, extra)
		return nil
	}
	return printObject(cmd.OutOrStdout(), g.output, e.Map())
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
			st, err := g.store()
			if err != nil {
				return err
			}
			entries, err := st.List(k)
			if err != nil {
				return err
			}
			items := make([]map[string]any, 0, len(entries))
			for _, e := range entries {
				items = append(items, e.Map())
				if e.Problem != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "aima: warning: %v\n", fieldError(e.Problem))
				}
			}
			withStatus(cmd.Context(), g, k, items)
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
			st, err := g.store()
			if err != nil {
				return err
			}
			e, err := st.Get(k, args[0])
			if err != nil {
				return fieldError(err)
			}
			if e.Problem != nil && e.Object == nil {
				return fmt.Errorf("%s %q has no valid version: %w", k.Name, args[0], fieldError(e.Problem))
			}
			if e.Problem != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "aima: warning: %v (showing the last committed version)\n", fieldError(e.Problem))
			}
			item := e.Map()
			withStatus(cmd.Context(), g, k, []map[string]any{item})
			return printObject(cmd.OutOrStdout(), g.output, item)
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
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			var replace map[string]any
			if o.file != "" {
				if replace, err = readObjectFile(o.file, k); err != nil {
					return err
				}
				if n, ok := replace["name"]; ok && n != args[0] {
					return fmt.Errorf("-f %s: name %v does not match %q", o.file, n, args[0])
				}
			}
			changed := o.file != ""
			for _, f := range o.fields {
				changed = changed || cmd.Flags().Changed(f.flag)
			}
			if !changed {
				return fmt.Errorf("nothing to change: give --FIELD VALUE flags or -f FILE (see --help)")
			}
			e, err := st.Update(k, args[0], o.revision, func(cur state.Object) (state.Object, error) {
				m := state.ToMap(cur)
				if replace != nil {
					m = replace
				}
				m["name"] = args[0]
				if err := collect(cmd.Flags(), o.fields, m); err != nil {
					return nil, err
				}
				return k.FromMap(m)
			})
			if err != nil {
				return flagError(cmd, err)
			}
			return printCreated(cmd, g, k, e, "updated")
		},
	}
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "replace the object with the content of a YAML or JSON file; flags override its fields")
	cmd.Flags().StringVar(&o.revision, "revision", "", "refuse the update unless the object is still at this revision (from get -o json)")
	o.fields = addFieldFlags(cmd, k)
	return cmd
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
			st, err := g.store()
			if err != nil {
				return err
			}
			if err := st.Delete(k, args[0], revision); err != nil {
				return fieldError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", k.Name, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "refuse the delete unless the object is still at this revision")
	return cmd
}
