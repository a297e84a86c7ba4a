package cli

// End-to-end tests of the command line: testdata/script/*.txtar are
// testscript scripts that run `aima` (this package's Main, in a subprocess)
// and real git against a state directory in the script's $WORK.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"gopkg.in/yaml.v3"
)

var updateScripts = flag.Bool("update-scripts", false, "rewrite the expected output in testdata/script/*.txtar (cmp against files in the archive)")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"aima": func() { os.Exit(Main()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *updateScripts,
		Setup: func(env *testscript.Env) error {
			env.Setenv("AIMA_DIR", env.WorkDir+"/.aima")
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("AIMA_AUTHOR", "Test <test@example.com>")
			// Only the test's own git configuration counts.
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"bigfile":  cmdBigfile,
			"distinct": cmdDistinct,
		},
	})
}

// cmdBigfile writes a file of SIZE bytes (a number, or with a k/M suffix)
// that is valid YAML throughout: a model (with kind:, so apply takes it too)
// whose labels go on and on.
//
//	bigfile PATH SIZE
func cmdBigfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! bigfile")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: bigfile PATH SIZE")
	}
	size, err := parseSize(args[1])
	if err != nil {
		ts.Fatalf("bigfile: %v", err)
	}
	var b bytes.Buffer
	b.WriteString("kind: model\nname: big\nsource: ollama\nlabels:\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "  k%08d: %s\n", i, "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b.Bytes(), 0o644))
}

func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case len(s) > 1 && (s[len(s)-1] == 'k' || s[len(s)-1] == 'K'):
		mult, s = 1<<10, s[:len(s)-1]
	case len(s) > 1 && s[len(s)-1] == 'M':
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// cmdDistinct checks that the top-level FIELD of every YAML FILE is set
// and that no two files have the same value (for example the allocated
// ports of services). With !, some two values must be equal.
//
//	distinct FIELD FILE...
func cmdDistinct(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: distinct FIELD FILE FILE...")
	}
	field := args[0]
	seen := map[string]string{}
	dup := ""
	for _, f := range args[1:] {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(ts.ReadFile(f)), &m); err != nil {
			ts.Fatalf("%s: %v", f, err)
		}
		v, ok := m[field]
		if !ok || v == nil || v == "" || v == 0 {
			ts.Fatalf("%s: %s is not set", f, field)
		}
		key := fmt.Sprint(v)
		ts.Logf("%s: %s: %s", f, field, key)
		if other, ok := seen[key]; ok {
			dup = fmt.Sprintf("%s and %s both have %s: %s", other, f, field, key)
		}
		seen[key] = f
	}
	switch {
	case dup != "" && !neg:
		ts.Fatalf("%s", dup)
	case dup == "" && neg:
		ts.Fatalf("all %s values are distinct", field)
	}
}
