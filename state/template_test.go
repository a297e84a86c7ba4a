package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestEngineTemplateBomb: engine args that loop, call templates or
// functions, bind variables or reference unknown fields are refused when
// the engine is validated (a request body, a file on disk), naming the
// engine's file and /args/N, within a second; rendering refuses them again
// and bounds the output; the built-in engines' templates still work.
func TestEngineTemplateBomb(t *testing.T) {
	bombs := map[string]string{
		`{{range 1000000000}}x{{end}}`:            "{{range}}",
		`{{range $i := 1000000000}}{{$i}}{{end}}`: "{{range}}",
		`{{printf "%01000000000d" 1}}`:            "function call",
		`{{define "a"}}x{{end}}{{template "a"}}`:  "{{define}}",
		`{{block "b" .}}x{{end}}`:                 "{{define}}",
		`{{with .Port}}{{.}}{{end}}`:              "{{with}}",
		`{{$x := .Repo}}{{$x}}`:                   "variable",
		`{{.Port | print}}`:                       "pipeline",
		`{{len .Repo}}`:                           "function call",
		`{{.}}`:                                   "{{.}}",
		`{{"literal"}}`:                           "literal",
		`{{.Nope}}`:                               "the field .Nope",
		`{{if len .Repo}}x{{end}}`:                "in {{if}}",
		`{{.Port`:                                 "bad template",
		strings.Repeat("{{if .Port}}", 9) + "x" + strings.Repeat("{{end}}", 9): "nested",
		strings.Repeat("x", state.MaxArgBytes+1):                               "at most",
	}
	for arg, want := range bombs {
		start := time.Now()
		_, err := state.KindEngine.FromMap(map[string]any{"name": "evil", "image": "img", "args": []any{"--port", arg}})
		if d := time.Since(start); d > time.Second {
			t.Errorf("%.40q: refused after %s", arg, d)
		}
		var ie *state.InvalidError
		if !errors.As(err, &ie) || len(ie.Problems) != 1 {
			t.Errorf("%.40q: %v, want one problem", arg, err)
			continue
		}
		p := ie.Problems[0]
		if p.File != "engines/evil.yaml" || p.Field != "/args/1" || !strings.Contains(p.Message, want) {
			t.Errorf("%.40q: problem %+v, want engines/evil.yaml /args/1 %q", arg, p, want)
		}
		if _, err := state.ExpandArgs([]string{arg}, state.ArgData{Port: 1}); err == nil || !strings.HasPrefix(err.Error(), "args[0]: ") {
			t.Errorf("%.40q: rendered: %v", arg, err)
		}
	}

	// A hand-edited file is invalid, with its line.
	st := testenv.NewStore(t)
	file := filepath.Join(st.Dir, "engines", "evil.yaml")
	os.MkdirAll(filepath.Dir(file), 0o755)
	os.WriteFile(file, []byte("image: img\nargs:\n  - '{{range 1000000000}}x{{end}}'\n"), 0o644)
	e, err := st.Get(state.KindEngine, "evil")
	if err != nil || e.Problem == nil || e.Problem.Problems[0].Field != "/args/0" || e.Problem.Problems[0].File != "engines/evil.yaml" || e.Problem.Problems[0].Line != 3 {
		t.Errorf("hand-edited bomb: %+v %v", e.Problem, err)
	}
	rec, err := st.Record(nil)
	if err != nil || len(rec.Paths) != 0 || len(rec.Problems) == 0 {
		t.Errorf("record of a bomb: %+v %v", rec, err)
	}

	// The output is bounded even without a loop: a long field referenced
	// many times.
	long := state.ArgData{Repo: strings.Repeat("r", 60<<10)}
	if _, err := state.ExpandArgs([]string{"{{.Repo}}{{.Repo}}"}, long); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("one argument over the bound: %v", err)
	}
	many := make([]string, 5)
	for i := range many {
		many[i] = "{{.Repo}}"
	}
	if _, err := state.ExpandArgs(many, long); err == nil || !strings.Contains(err.Error(), "args[4]: the arguments come to more than") {
		t.Errorf("all arguments over the bound: %v", err)
	}

	// The legitimate forms: text, fields, if/else (the built-ins' form).
	o, err := state.KindEngine.FromMap(map[string]any{"name": "good", "image": "img", "args": []any{
		"--port", "{{.Port}}", "--model", "{{if .ModelPath}}{{.ModelPath}}{{else}}{{.Repo}}{{end}}", "{{- .ModelName -}}", "plain", "{{/* note */}}x"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := state.ExpandArgs(o.(*state.Engine).Args, state.ArgData{Port: 8000, ModelName: "m", Repo: "org/m"})
	if want := "--port 8000 --model org/m m plain x"; err != nil || strings.Join(got, " ") != want {
		t.Errorf("expand: %q %v, want %q", got, err, want)
	}
	for _, e := range state.Builtins(state.KindEngine) {
		if _, err := state.ExpandArgs(e.Object.(*state.Engine).Args, state.ArgData{Port: 8000, ModelPath: "/models/m/w.gguf", ModelName: "m", Repo: "org/m"}); err != nil {
			t.Errorf("built-in engine %s: %v", e.Object.ObjectName(), err)
		}
	}
}
