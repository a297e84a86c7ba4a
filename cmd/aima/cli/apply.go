package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/aima-dev/aima/state"
)

func newApplyCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or replace objects from multi-document YAML (each document has kind:), in one commit",
		Example: "  aima apply -f stack.yaml\n  cat stack.yaml | aima apply -f -\n" +
			"\n  # stack.yaml\n  kind: model\n  name: tinyllama\n  source: ollama\n  repo: tinyllama\n  ---\n  kind: service\n  name: chat\n  model: tinyllama\n  engine: stub",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("-f is required (a file, a directory, or - for stdin)")
			}
			st, err := g.store()
			if err != nil {
				return err
			}
			var objs []state.Object
			var kinds []*state.Kind
			for _, f := range files {
				o, k, err := readApplyInput(f)
				if err != nil {
					return err
				}
				objs, kinds = append(objs, o...), append(kinds, k...)
			}
			if len(objs) == 0 {
				return fmt.Errorf("-f: no objects found")
			}
			seen := map[string]bool{}
			var names []string
			for i, o := range objs {
				id := kinds[i].Name + "/" + o.ObjectName()
				if seen[id] {
					return fmt.Errorf("%s appears twice in the input", id)
				}
				seen[id] = true
				names = append(names, id)
			}
			msg := "apply: " + strings.Join(names, ", ")
			if len(names) > 5 {
				msg = fmt.Sprintf("apply: %d objects (%s, ...)", len(names), strings.Join(names[:5], ", "))
			}
			entries, err := st.Apply(objs, kinds, msg)
			if err != nil {
				return fieldError(err)
			}
			for _, e := range entries {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s applied\n", e.Kind.Name, e.Object.ObjectName())
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "YAML or JSON file, directory of them, or - for stdin (repeatable)")
	return cmd
}

// readApplyInput reads every document of a file, of every .yaml/.yml/.json
// file of a directory, or of stdin.
func readApplyInput(path string) ([]state.Object, []*state.Kind, error) {
	if path == "-" {
		b, err := readAllLimited(os.Stdin)
		if err != nil {
			return nil, nil, fmt.Errorf("-f -: %w", err)
		}
		return parseDocuments("<stdin>", b)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("-f: %w", err)
	}
	var paths []string
	if fi.IsDir() {
		for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
			m, _ := filepath.Glob(filepath.Join(path, pat))
			paths = append(paths, m...)
		}
		sort.Strings(paths)
	} else {
		paths = []string{path}
	}
	var objs []state.Object
	var kinds []*state.Kind
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 16*state.MaxFileSize {
			return nil, nil, fmt.Errorf("%s: file is %d bytes; the limit is %d", p, fi.Size(), 16*state.MaxFileSize)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		o, k, err := parseDocuments(p, b)
		if err != nil {
			return nil, nil, err
		}
		objs, kinds = append(objs, o...), append(kinds, k...)
	}
	return objs, kinds, nil
}

// parseDocuments splits multi-document YAML at "---" lines; each document
// must say its kind.
func parseDocuments(name string, b []byte) ([]state.Object, []*state.Kind, error) {
	type doc struct {
		line int
		data []byte
	}
	var docs []doc
	cur := doc{line: 1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), state.MaxFileSize)
	line := 0
	for sc.Scan() {
		line++
		if t := sc.Text(); t == "---" || strings.HasPrefix(t, "--- ") {
			docs = append(docs, cur)
			cur = doc{line: line + 1}
			continue
		}
		cur.data = append(append(cur.data, sc.Bytes()...), '\n')
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	docs = append(docs, cur)
	var objs []state.Object
	var kinds []*state.Kind
	for _, d := range docs {
		if len(bytes.TrimSpace(d.data)) == 0 {
			continue
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		where := fmt.Sprintf("%s:%d", name, d.line)
		if err := yaml.Unmarshal(d.data, &head); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", where, err)
		}
		if head.Kind == "" {
			return nil, nil, fmt.Errorf("%s: kind: missing (each document says its kind: model, engine, service, app, catalog, skill, pipeline, alert, resource)", where)
		}
		k, err := state.LookupKind(head.Kind)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: kind: %v", where, err)
		}
		var o state.Object
		if k == state.KindSkill {
			// Skills in apply input are plain YAML with a content field.
			var m map[string]any
			if err := yaml.Unmarshal(d.data, &m); err != nil {
				return nil, nil, fmt.Errorf("%s: %v", where, err)
			}
			delete(m, "kind")
			o, err = k.FromMap(m)
		} else {
			o, err = k.Decode("", d.data)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s (document at line %d): %w", name, d.line, fieldError(err))
		}
		objs, kinds = append(objs, o), append(kinds, k)
	}
	return objs, kinds, nil
}
