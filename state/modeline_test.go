package state_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/schemas"
	"github.com/aima-dev/aima/state"
)

var modeline = regexp.MustCompile(`^# yaml-language-server: \$schema=(\S+)\n`)

// schemaOf returns the file the modeline of path points at, resolved as an
// editor does (relative to the file), failing when there is none or it
// does not exist.
func schemaOf(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := modeline.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no modeline:\n%s", path, b)
	}
	ref := string(m[1])
	if strings.Contains(ref, "://") {
		t.Fatalf("%s: the modeline points at %s, which an editor cannot open offline", path, ref)
	}
	schema, err := os.ReadFile(filepath.Join(filepath.Dir(path), filepath.FromSlash(ref)))
	if err != nil {
		t.Fatalf("%s: the modeline's schema %s: %v", path, ref, err)
	}
	return schema
}

// TestModelinesResolveOffline: the files aima writes point editors at their
// kind's JSON Schema by a relative path that exists: .schemas/ in the state
// directory, written from the binary, ignored by git (it ignores itself),
// refreshed when it differs; a link there is never written through. The
// examples point at the repository's schemas/.
func TestModelinesResolveOffline(t *testing.T) {
	st := testenv.NewStore(t)
	if got, want := schemaOf(t, filepath.Join(st.Dir, "aima.yaml")), mustSchema(t, "settings.json"); !bytes.Equal(got, want) {
		t.Errorf("aima.yaml's schema is not settings.json")
	}
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m"})
	objs := map[*state.Kind]state.Object{
		state.KindService:  &state.Service{Name: "s", Model: "m", Engine: "stub"},
		state.KindEngine:   &state.Engine{Name: "e", Image: "img"},
		state.KindApp:      &state.App{Name: "a", Image: "img"},
		state.KindCatalog:  &state.Recipe{Name: "c"},
		state.KindPipeline: &state.Pipeline{Name: "p", Steps: []state.Step{{ID: "a", Unit: "model.list"}}},
		state.KindAlert:    &state.Alert{Name: "al", Condition: "gpu_temp > 80"},
		state.KindResource: &state.Resource{Name: "r", Type: "memory", Limit: "1g"},
		state.KindHost:     &state.Host{Name: "h", Labels: map[string]string{"gpu": "rtx4090"}},
	}
	for k, o := range objs {
		mustCreate(t, st, k, o)
	}
	for _, k := range state.Kinds {
		if k == state.KindSkill {
			continue // Markdown: no modeline
		}
		files, _ := filepath.Glob(filepath.Join(st.Dir, k.Dir, "*"+k.Ext))
		if len(files) == 0 {
			t.Errorf("no %s file written", k.Name)
		}
		for _, f := range files {
			if got, want := schemaOf(t, f), mustSchema(t, k.Name+".json"); !bytes.Equal(got, want) {
				t.Errorf("%s: the modeline's schema is not %s.json", f, k.Name)
			}
		}
	}
	if out := git(t, st.Dir, "status", "--porcelain", "--untracked-files=all", "--ignored=no"); out != "" {
		t.Errorf("git status with the schemas written:\n%s", out)
	}
	if out := git(t, st.Dir, "ls-files"); strings.Contains(out, state.SchemasDir) {
		t.Errorf("schemas committed:\n%s", out)
	}

	// A stale schema (an older aima) is rewritten by the next init (aima
	// start, aima init).
	stale := filepath.Join(st.Dir, state.SchemasDir, "service.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(stale); !bytes.Equal(b, mustSchema(t, "service.json")) {
		t.Errorf("stale schema not rewritten")
	}
	// A link in its place is refused, never written through.
	outside := t.TempDir()
	if err := os.RemoveAll(filepath.Join(st.Dir, state.SchemasDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(st.Dir, state.SchemasDir)); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteSchemas(); err == nil {
		t.Errorf("schemas written through a link")
	}
	if des, _ := os.ReadDir(outside); len(des) > 0 {
		t.Errorf("files written outside the state directory: %v", des)
	}

	// The examples point at the repository's schemas/.
	files, _ := filepath.Glob("../examples/*/*.yaml")
	for _, f := range files {
		k, err := state.LookupKind(filepath.Base(filepath.Dir(f)))
		if err != nil {
			t.Fatal(err)
		}
		if got := schemaOf(t, f); !bytes.Equal(got, mustSchema(t, k.Name+".json")) {
			t.Errorf("%s: the modeline's schema is not %s.json", f, k.Name)
		}
	}
}

func mustSchema(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(schemas.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
