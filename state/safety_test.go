package state_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestEmptyObjectFileIsInvalid: a zero-byte, blank or comments-only object
// file is invalid, naming the file; it is never committed, and an object
// whose file was emptied keeps its last committed version. A file with one
// field, and a skill that is only a Markdown body, are still valid.
func TestEmptyObjectFileIsInvalid(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "kept", Source: "ollama", Repo: "tinyllama"})
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(st.Dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := map[string]string{
		"models/zero.yaml":     "",
		"models/blank.yaml":    " \n\t\n",
		"models/kept.yaml":     "",
		"services/note.yaml":   "# yaml-language-server: $schema=x\n\n# nothing yet\n",
		"engines/null.yaml":    "~\n",
		"skills/nothing.md":    "\n\n",
		"skills/bare.md":       "---\n---\n",
		"pipelines/crlf.yaml":  "\r\n\r\n",
		"resources/tabs.yaml":  "\t",
		"alerts/comments.yaml": "#\n#\n",
	}
	for rel, data := range empty {
		write(rel, data)
	}
	head := git(t, st.Dir, "rev-parse", "HEAD")
	rec, err := st.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Paths) != 0 {
		t.Errorf("empty files were committed: %v", rec.Paths)
	}
	reported := map[string]bool{}
	for _, p := range rec.Problems {
		reported[p.File] = true
	}
	for rel := range empty {
		if !reported[rel] {
			t.Errorf("%s: not reported (problems %v)", rel, rec.Problems)
		}
		k, name, _ := state.KindOfPath(rel)
		e, err := st.Get(k, name)
		if err != nil || e.Problem == nil || e.Problem.Problems[0].File != rel || !strings.Contains(e.Problem.Error(), "file") {
			t.Errorf("%s: loaded as %+v %v, want a problem naming the file", rel, e.Problem, err)
		}
		if name == "kept" && (e.Object == nil || e.Object.(*state.Model).Repo != "tinyllama") {
			t.Errorf("an emptied file dropped the committed object: %+v", e.Object)
		}
	}
	if got := git(t, st.Dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("something was committed: %s", git(t, st.Dir, "log", "--oneline", "-2"))
	}

	// The smallest legitimate files.
	write("models/kept.yaml", "source: ollama\nrepo: tinyllama-v2\n")
	write("skills/nothing.md", "---\n---\nJust a body.\n")
	for rel := range empty {
		if rel != "models/kept.yaml" && rel != "skills/nothing.md" {
			os.Remove(filepath.Join(st.Dir, filepath.FromSlash(rel)))
		}
	}
	rec, err = st.Record(nil)
	if err != nil || len(rec.Problems) != 0 || strings.Join(rec.Paths, " ") != "models/kept.yaml skills/nothing.md" {
		t.Errorf("valid small files: %+v %v", rec, err)
	}
	checkRepo(t, st.Dir)
}
