package state_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestSymlinksAreNeverFollowed: a symbolic link inside the state directory
// (an object file, or a whole kind directory) is reported invalid naming
// it, and its target is never served, committed, written or removed: not
// by the loader, the repair, init, a write or a delete. The last committed
// version of a linked object stays in effect.
func TestSymlinksAreNeverFollowed(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "kept", Source: "ollama", Repo: "committed"})
	mustCreate(t, st, state.KindEngine, &state.Engine{Name: "mine", Image: "img:committed"})
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.yaml")
	os.WriteFile(secret, []byte("source: ollama\nrepo: outside-secret\n"), 0o644)
	link := func(target, rel string) {
		t.Helper()
		p := filepath.Join(st.Dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.RemoveAll(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link(secret, "models/stolen.yaml")
	link(secret, "models/kept.yaml")
	link("/etc/passwd", "services/x.yaml")
	if err := syscall.Mkfifo(filepath.Join(st.Dir, "models", "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A kind directory that is a link, to a directory holding a valid file.
	evil := filepath.Join(outside, "engines")
	os.MkdirAll(evil, 0o755)
	os.WriteFile(filepath.Join(evil, "evil.yaml"), []byte("image: evil:latest\n"), 0o644)
	os.Rename(filepath.Join(st.Dir, "engines"), filepath.Join(st.Dir, ".engines-moved"))
	link(evil, "engines")
	head := git(t, st.Dir, "rev-parse", "HEAD")

	for rel, committed := range map[string]string{"models/stolen.yaml": "", "models/kept.yaml": "committed", "services/x.yaml": "", "models/fifo.yaml": ""} {
		k, name, _ := state.KindOfPath(rel)
		e, err := st.Get(k, name)
		if err != nil || e.Problem == nil || e.Problem.Problems[0].File != rel {
			t.Errorf("%s: %+v %v, want a problem naming it", rel, e.Problem, err)
			continue
		}
		if msg := e.Problem.Problems[0].Message; name != "fifo" && msg != state.LinkMessage {
			t.Errorf("%s: %q", rel, msg)
		}
		switch m, _ := e.Object.(*state.Model); {
		case committed == "" && e.Object != nil:
			t.Errorf("%s: served %+v", rel, e.Object)
		case committed != "" && (m == nil || m.Repo != committed):
			t.Errorf("%s: %+v, want the committed version in effect", rel, e.Object)
		}
	}
	engines, err := st.List(state.KindEngine)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		switch e.Object.ObjectName() {
		case "evil":
			t.Errorf("an engine was read through the linked directory: %+v", e.Object)
		case "mine":
			if e.Problem == nil || !strings.Contains(e.Problem.Error(), "engines/ is a symbolic link") || e.Object.(*state.Engine).Image != "img:committed" {
				t.Errorf("engine in a linked directory: %+v %v", e.Object, e.Problem)
			}
		}
	}

	rec, err := st.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Paths) != 0 {
		t.Errorf("the repair committed %v", rec.Paths)
	}
	reported := map[string]bool{}
	for _, p := range rec.Problems {
		reported[p.File] = true
	}
	for _, rel := range []string{"models/stolen.yaml", "models/kept.yaml", "services/x.yaml", "models/fifo.yaml", "engines", "engines/mine.yaml"} {
		if !reported[rel] {
			t.Errorf("the repair does not report %s: %v", rel, rec.Problems)
		}
	}
	// Writes never go through the linked directory, nor read or replace a
	// linked file's target.
	if _, err := st.Create(state.KindEngine, &state.Engine{Name: "new", Image: "img"}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("create in a linked directory: %v", err)
	}
	if err := st.Delete(state.KindEngine, "mine", ""); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("delete in a linked directory: %v", err)
	}
	if _, err := st.Update(state.KindModel, "kept", "", func(o state.Object) (state.Object, error) { return o, nil }); err == nil {
		t.Error("an update wrote over a linked file")
	}
	if des, _ := os.ReadDir(evil); len(des) != 1 {
		t.Errorf("the linked directory's target was changed: %v", des)
	}
	if b, _ := os.ReadFile(secret); string(b) != "source: ollama\nrepo: outside-secret\n" {
		t.Errorf("the link's target was changed: %q", b)
	}
	if got := git(t, st.Dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("something was committed: %s", git(t, st.Dir, "log", "--oneline", "-3"))
	}

	// A linked object file can be deleted (the link goes, its target stays).
	if err := st.Delete(state.KindModel, "stolen", ""); err != nil {
		t.Errorf("delete a link: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("deleting the link removed its target: %v", err)
	}

	// The legitimate path: plain files again, recorded as usual.
	os.Remove(filepath.Join(st.Dir, "engines"))
	os.Rename(filepath.Join(st.Dir, ".engines-moved"), filepath.Join(st.Dir, "engines"))
	os.Remove(filepath.Join(st.Dir, "models", "kept.yaml"))
	os.WriteFile(filepath.Join(st.Dir, "models", "kept.yaml"), []byte("source: ollama\nrepo: plain-again\n"), 0o644)
	os.Remove(filepath.Join(st.Dir, "services", "x.yaml"))
	os.Remove(filepath.Join(st.Dir, "models", "fifo.yaml"))
	rec, err = st.Record(nil)
	if err != nil || len(rec.Problems) != 0 || strings.Join(rec.Paths, " ") != "models/kept.yaml" {
		t.Errorf("after the links are gone: %+v %v", rec, err)
	}
	if _, err := st.Create(state.KindEngine, &state.Engine{Name: "new", Image: "img"}); err != nil {
		t.Errorf("create: %v", err)
	}
	checkRepo(t, st.Dir)

	// init of a directory with files but no repository commits the plain
	// files and not the links.
	fresh, err := state.Open(filepath.Join(t.TempDir(), ".aima"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(fresh.Dir, "models"), 0o755)
	os.WriteFile(filepath.Join(fresh.Dir, "models", "plain.yaml"), []byte("source: ollama\nrepo: plain\n"), 0o644)
	os.Symlink(secret, filepath.Join(fresh.Dir, "models", "linked.yaml"))
	os.Symlink(evil, filepath.Join(fresh.Dir, "engines"))
	if _, err := fresh.Init(); err != nil {
		t.Fatal(err)
	}
	if files := git(t, fresh.Dir, "ls-files"); strings.Contains(files, "linked") || strings.Contains(files, "engines") || !strings.Contains(files, "models/plain.yaml") {
		t.Errorf("init committed:\n%s", files)
	}
}

// TestMissingGitIsRefused: when .git disappears from a state directory
// that had one, a write, the repair and init are refused (nothing written,
// no new repository), with a message saying how to recover; a directory
// that never had a repository (files only, like the demo .aima/) is still
// initialised; restoring .git, `aima init --from` into the emptied
// directory, or removing the marker each recover.
func TestMissingGitIsRefused(t *testing.T) {
	st, url := published(t) // a state directory with one model, pushed
	if _, err := os.Stat(filepath.Join(st.Dir, state.RepoMarkerPath)); err != nil {
		t.Fatalf("no marker after init: %v", err)
	}
	gitDir := filepath.Join(st.Dir, ".git")
	saved := filepath.Join(t.TempDir(), "git")
	if err := os.Rename(gitDir, saved); err != nil {
		t.Fatal(err)
	}
	snapshot := func(dir string) string {
		var b strings.Builder
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(p, "/.local/") {
				data, _ := os.ReadFile(p)
				b.WriteString(p + "=" + string(data) + "\n")
			}
			return nil
		})
		return b.String()
	}
	before := snapshot(st.Dir)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, state.ErrNoRepository) || !strings.Contains(err.Error(), "aima init --from") || !strings.Contains(err.Error(), state.RepoMarkerPath) {
			t.Errorf("%s without .git: %v", what, err)
		}
		if _, err := os.Stat(gitDir); err == nil {
			t.Fatalf("%s created a new repository", what)
		}
	}
	_, err := st.Create(state.KindModel, &state.Model{Name: "new", Source: "ollama", Repo: "x"})
	refused("create through the store that had it open", err)
	fresh, _ := state.Open(st.Dir) // another process: only the marker tells
	_, err = fresh.Create(state.KindModel, &state.Model{Name: "new", Source: "ollama", Repo: "x"})
	refused("create", err)
	refused("delete", fresh.Delete(state.KindModel, "m1", ""))
	_, err = fresh.Record(nil)
	refused("repair", err)
	_, err = fresh.Init()
	refused("init", err)
	if after := snapshot(st.Dir); after != before {
		t.Errorf("the refused writes changed files:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Reads still work: the files are there.
	if e, err := fresh.Get(state.KindModel, "m1"); err != nil || e.Object == nil {
		t.Errorf("read without .git: %+v %v", e, err)
	}

	// Recovery 1: .git restored.
	os.Rename(saved, gitDir)
	again, _ := state.Open(st.Dir)
	mustCreate(t, again, state.KindModel, &state.Model{Name: "after-restore", Source: "ollama", Repo: "x"})
	if log := git(t, st.Dir, "log", "--format=%s"); !strings.Contains(log, "model create: m1") {
		t.Errorf("history lost:\n%s", log)
	}

	// Recovery 2: the marker removed: a new history from the files.
	os.RemoveAll(gitDir)
	os.Remove(filepath.Join(st.Dir, state.RepoMarkerPath))
	anew, _ := state.Open(st.Dir)
	if created, err := anew.Init(); err != nil || !created {
		t.Errorf("init after removing the marker: %v %v", created, err)
	}
	if files := git(t, st.Dir, "ls-files"); !strings.Contains(files, "models/after-restore.yaml") {
		t.Errorf("the new history does not hold the files:\n%s", files)
	}

	// Recovery 3: init --from into the emptied directory (only .local, with
	// the marker of the lost repository).
	des, _ := os.ReadDir(st.Dir)
	for _, de := range des {
		if de.Name() != ".local" {
			os.RemoveAll(filepath.Join(st.Dir, de.Name()))
		}
	}
	clone, _ := state.Open(st.Dir)
	if _, err := clone.InitFrom(context.Background(), url, ""); err != nil {
		t.Errorf("init --from over a lost repository: %v", err)
	} else if e, err := clone.Get(state.KindModel, "m1"); err != nil || e.Object == nil {
		t.Errorf("the clone lacks the pushed model: %v", err)
	}

	// A directory that never had a repository (files only) is initialised.
	plain, _ := state.Open(filepath.Join(t.TempDir(), ".aima"))
	os.MkdirAll(filepath.Join(plain.Dir, "models"), 0o755)
	os.WriteFile(filepath.Join(plain.Dir, "aima.yaml"), []byte("format: 1\ninstance: aima-test\n"), 0o644)
	os.WriteFile(filepath.Join(plain.Dir, "models", "demo.yaml"), []byte("source: ollama\nrepo: tinyllama\n"), 0o644)
	if created, err := plain.Init(); err != nil || !created {
		t.Fatalf("init of a directory that never had a repository: %v %v", created, err)
	}
	if files := git(t, plain.Dir, "ls-files"); !strings.Contains(files, "models/demo.yaml") {
		t.Errorf("init did not commit the files:\n%s", files)
	}
	if _, err := os.Stat(filepath.Join(plain.Dir, state.RepoMarkerPath)); err != nil {
		t.Errorf("no marker: %v", err)
	}
	checkRepo(t, plain.Dir)
}
