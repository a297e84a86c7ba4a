package cli

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aima-dev/aima/schemas"
	"github.com/aima-dev/aima/state"
)

// field is one object field settable by a flag: --hardware-gpu-vendor sets
// {"hardware": {"gpu_vendor": ...}}. Flags are derived from the Go types, so
// every field the schema has can be set from the command line, except lists
// of objects and free-form maps (pipeline steps, recipe models and config),
// which come from -f FILE.
type field struct {
	path []string
	flag string
	typ  reflect.Type
}

func fieldsOf(k *state.Kind) []field {
	var out []field
	var walk func(t reflect.Type, prefix []string)
	walk = func(t reflect.Type, prefix []string) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			key, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if key == "" || key == "-" {
				continue
			}
			path := append(append([]string{}, prefix...), key)
			ft := sf.Type
			if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				walk(ft.Elem(), path)
				continue
			}
			switch {
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String,
				ft.Kind() == reflect.Map && ft.Elem().Kind() != reflect.String && ft.Elem().Kind() != reflect.Interface:
				continue
			}
			out = append(out, field{path: path, flag: strings.ReplaceAll(strings.Join(path, "-"), "_", "-"), typ: ft})
		}
	}
	walk(reflect.TypeOf(k.New()).Elem(), nil)
	return out
}

// descriptions reads the field descriptions from the kind's schema.
func descriptions(k *state.Kind) map[string]string {
	out := map[string]string{}
	b, err := fs.ReadFile(schemas.FS, k.Name+".json")
	if err != nil {
		return out
	}
	type prop struct {
		Description string          `json:"description"`
		Properties  map[string]prop `json:"properties"`
	}
	var s prop
	if json.Unmarshal(b, &s) != nil {
		return out
	}
	var walk func(p prop, prefix string)
	walk = func(p prop, prefix string) {
		for name, c := range p.Properties {
			key := prefix + name
			out[key] = c.Description
			walk(c, key+".")
		}
	}
	walk(s, "")
	return out
}

// addFieldFlags registers one flag per field (except name, which commands
// register themselves).
func addFieldFlags(cmd *cobra.Command, k *state.Kind) []field {
	desc := descriptions(k)
	fields := fieldsOf(k)
	fl := cmd.Flags()
	var kept []field
	for _, f := range fields {
		if len(f.path) == 1 && f.path[0] == "name" {
			continue
		}
		usage := desc[strings.Join(f.path, ".")]
		switch {
		case f.typ.Kind() == reflect.String:
			fl.String(f.flag, "", usage)
		case f.typ.Kind() == reflect.Int:
			fl.Int(f.flag, 0, usage)
		case f.typ.Kind() == reflect.Float64:
			fl.Float64(f.flag, 0, usage)
		case f.typ.Kind() == reflect.Bool, f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Bool:
			fl.Bool(f.flag, false, usage)
		case f.typ.Kind() == reflect.Slice:
			fl.StringArray(f.flag, nil, usage+" (repeat the flag for several)")
		case f.typ.Kind() == reflect.Map:
			fl.StringArray(f.flag, nil, usage+" (KEY=VALUE; repeat the flag for several)")
		default:
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// collect overlays the fields whose flags were given onto m. With patch, m
// is a JSON merge patch (an update): a map flag's KEY= becomes null, which
// removes the entry, and the object's other entries are kept by the merge.
func collect(flags *pflag.FlagSet, fields []field, m map[string]any, patch bool) error {
	for _, f := range fields {
		pf := flags.Lookup(f.flag)
		if pf == nil || !pf.Changed {
			continue
		}
		var v any
		var err error
		switch {
		case f.typ.Kind() == reflect.String:
			v, err = flags.GetString(f.flag)
		case f.typ.Kind() == reflect.Int:
			v, err = flags.GetInt(f.flag)
		case f.typ.Kind() == reflect.Float64:
			v, err = flags.GetFloat64(f.flag)
		case f.typ.Kind() == reflect.Bool, f.typ.Kind() == reflect.Pointer:
			v, err = flags.GetBool(f.flag)
		case f.typ.Kind() == reflect.Slice:
			var s []string
			s, err = flags.GetStringArray(f.flag)
			v = toAny(s)
		case f.typ.Kind() == reflect.Map:
			var s []string
			s, err = flags.GetStringArray(f.flag)
			mm := map[string]any{}
			if old, ok := getPath(m, f.path).(map[string]any); ok {
				for k, v := range old { // --env on update adds to the existing map
					mm[k] = v
				}
			}
			for _, kv := range s {
				key, val, ok := strings.Cut(kv, "=")
				if !ok || key == "" {
					return fmt.Errorf("--%s: %q is not KEY=VALUE", f.flag, kv)
				}
				if val == "" && strings.HasSuffix(kv, "=") {
					delete(mm, key) // KEY= removes the entry
					if patch {
						mm[key] = nil
					}
					continue
				}
				mm[key] = val
			}
			v = mm
		}
		if err != nil {
			return err
		}
		setPath(m, f.path, v)
	}
	return nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func getPath(m map[string]any, path []string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
