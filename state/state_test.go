package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkRepo asserts what a user checks by hand: git fsck is silent and
// git status is clean.
func checkRepo(t *testing.T, dir string) {
	t.Helper()
	if out := git(t, dir, "fsck", "--strict", "--no-progress"); strings.TrimSpace(out) != "" {
		t.Errorf("git fsck: %s", out)
	}
	if out := git(t, dir, "status", "--porcelain"); strings.TrimSpace(out) != "" {
		t.Errorf("git status not clean:\n%s", out)
	}
}

func TestSchemasAreFresh(t *testing.T) {
	got, err := state.GenerateSchemas(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range got {
		want, err := os.ReadFile(filepath.Join("..", "schemas", name))
		if err != nil {
			t.Errorf("schemas/%s: %v (run make generate)", name, err)
			continue
		}
		if !bytes.Equal(b, want) {
			t.Errorf("schemas/%s is stale: run make generate\n%s", name, cmp.Diff(string(want), string(b)))
		}
	}
}

// TestExamplesAndDemoAreValid loads every file under examples/ and the demo
// state directory .aima/ as aima does, and checks them against the default
// local policy (examples may also read HF_TOKEN, which their comments say
// to allow), so a copied example is not refused on a default machine.
func TestExamplesAndDemoAreValid(t *testing.T) {
	pol := state.DefaultPolicy()
	pol.Env = []string{"HF_TOKEN"}
	for _, root := range []string{"../examples", "../.aima"} {
		n := 0
		for _, k := range state.Kinds {
			files, _ := filepath.Glob(filepath.Join(root, k.Dir, "*"+k.Ext))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				o, err := k.Decode(k.Dir+"/"+filepath.Base(f), b)
				if err != nil {
					t.Errorf("%s: %v", f, err)
					continue
				}
				if probs := pol.Check(o); len(probs) > 0 {
					t.Errorf("%s breaks the default policy: %v", f, probs)
				}
				n++
			}
		}
		if n < 5 {
			t.Errorf("%s holds %d object files; expected a sample of every kind", root, n)
		}
	}
}

func TestCreateEveryKindIsFileAndCommit(t *testing.T) {
	st := testenv.NewStore(t)
	objs := []struct {
		k *state.Kind
		o state.Object
	}{
		{state.KindModel, &state.Model{Name: "tinyllama", Source: "ollama", Repo: "tinyllama"}},
		{state.KindEngine, &state.Engine{Name: "my-vllm", Type: "vllm", Image: "vllm/vllm-openai:v0.8.5", Port: 8000}},
		{state.KindService, &state.Service{Name: "chat", Model: "tinyllama", Engine: "stub", Port: 18080}},
		{state.KindApp, &state.App{Name: "webui", Image: "ghcr.io/open-webui/open-webui:main", Ports: []string{"3000:8080"}}},
		{state.KindCatalog, &state.Recipe{Name: "r1", EngineType: "vllm", Hardware: &state.Hardware{GPUVendor: "NVIDIA"}}},
		{state.KindSkill, &state.Skill{Name: "s1", Description: "d", Keywords: []string{"a"}, Content: "# Body\n\ntext"}},
		{state.KindPipeline, &state.Pipeline{Name: "p1", Steps: []state.Step{{ID: "a", Unit: "model.list"}}}},
		{state.KindAlert, &state.Alert{Name: "hot", Condition: "gpu_temp > 80", Action: "notify"}},
		{state.KindResource, &state.Resource{Name: "gpu0", Type: "gpu_memory", Limit: "24g"}},
	}
	for _, c := range objs {
		if _, err := st.Create(c.k, c.o); err != nil {
			t.Fatalf("create %s: %v", c.k, err)
		}
		if _, err := os.Stat(filepath.Join(st.Dir, c.k.Path(c.o.ObjectName()))); err != nil {
			t.Errorf("%s: no file: %v", c.k, err)
		}
		e, err := st.Get(c.k, c.o.ObjectName())
		if err != nil {
			t.Fatalf("get %s: %v", c.k, err)
		}
		if d := cmp.Diff(c.o, e.Object); d != "" {
			t.Errorf("%s round trip (-want +got):\n%s", c.k, d)
		}
	}
	log := git(t, st.Dir, "log", "--format=%s")
	for _, c := range objs {
		want := fmt.Sprintf("%s create: %s", c.k, c.o.ObjectName())
		if !strings.Contains(log, want+"\n") {
			t.Errorf("git log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "\n"); n != len(objs)+1 {
		t.Errorf("git log has %d commits, want %d (init + one per create)", n, len(objs)+1)
	}
	checkRepo(t, st.Dir)
}

func TestBuiltinsAndOverride(t *testing.T) {
	st := testenv.NewStore(t)
	engines, err := st.List(state.KindEngine)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range engines {
		names = append(names, e.Object.ObjectName()+":"+e.Source)
	}
	want := []string{"llamacpp:builtin", "ollama:builtin", "sglang:builtin", "stub:builtin", "vllm:builtin"}
	if d := cmp.Diff(want, names); d != "" {
		t.Fatalf("engines (-want +got):\n%s", d)
	}
	if _, err := st.Create(state.KindEngine, &state.Engine{Name: "vllm", Image: "x"}); !errors.Is(err, state.ErrExists) {
		t.Fatalf("create over a built-in: got %v, want ErrExists", err)
	}
	e, err := st.Update(state.KindEngine, "vllm", "", func(o state.Object) (state.Object, error) {
		o.(*state.Engine).Image = "vllm/vllm-openai:v0.9.0"
		return o, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != state.SourceFile {
		t.Errorf("edited built-in source = %q, want file", e.Source)
	}
	// Reopen (a restart): the edit is still there, and vllm is listed once.
	st2, _ := state.Open(st.Dir)
	engines, _ = st2.List(state.KindEngine)
	count := 0
	for _, e := range engines {
		if e.Object.ObjectName() == "vllm" {
			count++
			if img := e.Object.(*state.Engine).Image; img != "vllm/vllm-openai:v0.9.0" || e.Source != "file" {
				t.Errorf("vllm after reopen: image %q source %q", img, e.Source)
			}
		}
	}
	if count != 1 {
		t.Errorf("vllm listed %d times", count)
	}
	skills, _ := st2.List(state.KindSkill)
	if len(skills) < 4 {
		t.Errorf("built-in skills: %d, want at least 4", len(skills))
	}
	checkRepo(t, st.Dir)
}

func TestServicePortAllocation(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m"})
	a := mustCreate(t, st, state.KindService, &state.Service{Name: "a", Model: "m", Engine: "stub"}).Object.(*state.Service)
	b := mustCreate(t, st, state.KindService, &state.Service{Name: "b", Model: "m", Engine: "stub"}).Object.(*state.Service)
	if a.Port == 0 || b.Port == 0 || a.Port == b.Port {
		t.Fatalf("ports a=%d b=%d: want two distinct allocated ports", a.Port, b.Port)
	}
	data, _ := os.ReadFile(filepath.Join(st.Dir, "services/a.yaml"))
	if !strings.Contains(string(data), fmt.Sprintf("port: %d", a.Port)) {
		t.Errorf("allocated port not written into the file:\n%s", data)
	}
	// The port is in the same commit as the create.
	if out := git(t, st.Dir, "show", "HEAD~1:services/a.yaml"); !strings.Contains(out, fmt.Sprintf("port: %d", a.Port)) {
		t.Errorf("commit lacks the port:\n%s", out)
	}
	// A port held on the host is skipped.
	held := b.Port + 1
	st.PortHeld = func(p int) bool { return p == held }
	c := mustCreate(t, st, state.KindService, &state.Service{Name: "c", Model: "m", Engine: "stub"}).Object.(*state.Service)
	if c.Port == held || c.Port == a.Port || c.Port == b.Port {
		t.Errorf("port %d reused (a=%d b=%d held=%d)", c.Port, a.Port, b.Port, held)
	}
	// A service needs its model and engine.
	_, err := st.Create(state.KindService, &state.Service{Name: "d", Model: "nope", Engine: "stub"})
	if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), `model "nope" does not exist`) {
		t.Errorf("missing model: %v", err)
	}
	// A model in use cannot be deleted.
	if err := st.Delete(state.KindModel, "m", ""); !errors.Is(err, state.ErrConflict) {
		t.Errorf("delete model in use: %v", err)
	}
}

func mustCreate(t *testing.T, st *state.Store, k *state.Kind, o state.Object) state.Entry {
	t.Helper()
	e, err := st.Create(k, o)
	if err != nil {
		t.Fatalf("create %s/%s: %v", k, o.ObjectName(), err)
	}
	return e
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name, file, content string
		want                []string // substrings of the error
	}{
		{"malformed yaml", "models/m.yaml", "name: m\nrepo: x\n  bad: y\n", []string{"models/m.yaml:3:6", "mapping values are not allowed"}},
		{"unclosed bracket", "models/m.yaml", "name: m\nsource: ollama\nrepo: [x\n", []string{"models/m.yaml:3:7", "expected ',' or ']'"}},
		{"unclosed quote", "models/m.yaml", "name: m\nsource: \"ollama\nrepo: x\n", []string{"models/m.yaml:2:9", "end of stream"}},
		{"two colons", "models/m.yaml", "name: m\nrepo: a: b\n", []string{"models/m.yaml:2:8", "mapping values"}},
		{"bad token", "models/m.yaml", "name: m\nrepo: @x\n", []string{"models/m.yaml:2:7", "cannot start any token"}},
		{"bad list indent", "pipelines/p.yaml", "steps:\n  - id: a\n   unit: x\n", []string{"pipelines/p.yaml:1:1", "indented differently from its items"}},
		{"tab indent", "models/m.yaml", "name: m\nrepo: x\n\tbad: 1\n", []string{"models/m.yaml:3:1", "tab character"}},
		{"schema violation", "services/s.yaml", "model: m\nengine: stub\nport: 70000\n", []string{"services/s.yaml:3:7", "/port", "maximum"}},
		{"enum", "models/m.yaml", "source: dropbox\n", []string{"models/m.yaml:1:9", "/source"}},
		{"unknown field", "models/m.yaml", "name: m\nsorce: ollama\n", []string{"models/m.yaml:2:1", `unknown field "sorce"`}},
		{"missing required", "alerts/a.yaml", "action: notify\n", []string{"/condition", `missing required field "condition"`}},
		{"name mismatch", "models/m.yaml", "name: other\n", []string{"models/m.yaml:1:7", "does not match the file name"}},
		{"wrong type", "services/s.yaml", "model: m\nengine: stub\nport: eighty\n", []string{"services/s.yaml:3:7", "/port"}},
		{"two documents", "models/m.yaml", "name: m\n---\nname: n\n", []string{"second YAML document"}},
		{"alias bomb", "models/m.yaml", aliasBomb(), []string{"alias"}},
		{"duplicate key", "models/m.yaml", "name: m\nrepo: a\nrepo: b\n", []string{"models/m.yaml:3:1", `"repo" appears twice`}},
		{"pipeline cycle", "pipelines/p.yaml", "steps:\n- {id: a, unit: model.list, depends_on: [b]}\n- {id: b, unit: model.list, depends_on: [a]}\n", []string{"cycle", "a -> b -> a"}},
		{"pipeline unknown dep", "pipelines/p.yaml", "steps:\n- {id: a, unit: model.list, depends_on: [zz]}\n", []string{`depends on "zz"`}},
		{"bad secret ref", "services/s.yaml", "model: m\nengine: stub\nenv:\n  TOKEN: ${vault:x}\n", []string{"/env/TOKEN", "${env:NAME}"}},
		{"skill without front matter", "skills/s.md", "# just markdown\n", []string{"front matter"}},
		{"big file", "models/m.yaml", "name: m\nrepo: " + strings.Repeat("x", 10<<20) + "\n", []string{"limit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, _, _ := state.KindOfPath(c.file)
			_, err := k.Decode(c.file, []byte(c.content))
			if !errors.Is(err, state.ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("name: m\nlabels:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

func TestHostileNames(t *testing.T) {
	st := testenv.NewStore(t)
	for _, n := range []string{"../etc/passwd", "a/b", "..", "UPPER", "", "-lead", "a..b", strings.Repeat("x", 64)} {
		_, err := st.Create(state.KindModel, &state.Model{Name: n})
		if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "name") {
			t.Errorf("name %q: got %v, want an invalid-name error", n, err)
		}
	}
	err := state.CheckName("name", "My Model")
	if err == nil || !strings.Contains(err.Error(), `try "my-model"`) {
		t.Errorf("suggestion missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(st.Dir), "etc")); err == nil {
		t.Error("path traversal wrote outside the state directory")
	}
}

func TestDuplicateCreateAndMissingUpdate(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m", Repo: "first"})
	_, err := st.Create(state.KindModel, &state.Model{Name: "m", Repo: "second"})
	if !errors.Is(err, state.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	e, _ := st.Get(state.KindModel, "m")
	if e.Object.(*state.Model).Repo != "first" {
		t.Error("duplicate create overwrote the object")
	}
	_, err = st.Update(state.KindModel, "nope", "", func(o state.Object) (state.Object, error) { return o, nil })
	if !errors.Is(err, state.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
	// Stale revision: refused, nothing lost.
	_, err = st.Update(state.KindModel, "m", "0000", func(o state.Object) (state.Object, error) {
		o.(*state.Model).Repo = "third"
		return o, nil
	})
	if !errors.Is(err, state.ErrConflict) {
		t.Errorf("stale revision: %v", err)
	}
	if err := st.Delete(state.KindModel, "nope", ""); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
	checkRepo(t, st.Dir)
}

func TestInvalidFileKeepsLastValidVersion(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "good", Repo: "v1"})
	mustCreate(t, st, state.KindModel, &state.Model{Name: "other"})
	os.WriteFile(filepath.Join(st.Dir, "models/good.yaml"), []byte("name: good\nrepo: [broken\n"), 0o644)
	entries, err := st.List(state.KindModel)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("an invalid file hid others: %d entries", len(entries))
	}
	g := entries[0]
	if g.Problem == nil || g.Object == nil || g.Object.(*state.Model).Repo != "v1" {
		t.Errorf("invalid file: problem=%v object=%+v; want the committed v1 in effect", g.Problem, g.Object)
	}
	rec, err := st.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Paths) != 0 || len(rec.Problems) != 1 || rec.Problems[0].Line == 0 {
		t.Errorf("record: %+v; want nothing committed and one located problem", rec)
	}
	// A valid hand edit is recorded as "edit: <path>".
	os.WriteFile(filepath.Join(st.Dir, "models/other.yaml"), []byte("name: other\nrepo: edited\n"), 0o644)
	os.WriteFile(filepath.Join(st.Dir, "models/good.yaml"), []byte("name: good\nrepo: v2\n"), 0o644)
	rec, err = st.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"models/good.yaml", "models/other.yaml"}, rec.Paths); d != "" {
		t.Errorf("recorded paths (-want +got):\n%s", d)
	}
	if msg := git(t, st.Dir, "log", "-1", "--format=%s"); !strings.HasPrefix(msg, "edit: ") {
		t.Errorf("commit message %q", msg)
	}
	checkRepo(t, st.Dir)
}

func TestDeleteAndRecreate(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindAlert, &state.Alert{Name: "a", Condition: "gpu_temp > 80"})
	if err := st.Delete(state.KindAlert, "a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(state.KindAlert, "a"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := st.Delete(state.KindEngine, "vllm", ""); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("deleting a built-in: %v", err)
	}
	checkRepo(t, st.Dir)
}

func TestRollback(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m", Repo: "a"})
	if _, err := st.Update(state.KindModel, "m", "", func(o state.Object) (state.Object, error) {
		o.(*state.Model).Repo = "b"
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, state.KindAlert, &state.Alert{Name: "later", Condition: "gpu_temp > 1"})
	paths, err := st.Rollback("HEAD~2", "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"alerts/later.yaml", "models/m.yaml"}, paths); d != "" {
		t.Errorf("restored paths (-want +got):\n%s", d)
	}
	e, _ := st.Get(state.KindModel, "m")
	if e.Object.(*state.Model).Repo != "a" {
		t.Errorf("model after rollback: %+v", e.Object)
	}
	if _, err := st.Get(state.KindAlert, "later"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("object created after the revision still there: %v", err)
	}
	// History is kept: the rollback is a new commit on top.
	if n := strings.Count(git(t, st.Dir, "log", "--format=%s"), "\n"); n != 5 {
		t.Errorf("%d commits, want 5 (init, create, update, create, rollback)", n)
	}
	// One object back to a revision.
	if _, err := st.Rollback("HEAD~1", "alerts/later.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(state.KindAlert, "later"); err != nil {
		t.Errorf("single-object rollback: %v", err)
	}
	if _, err := st.Rollback("nope", ""); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("unknown revision: %v", err)
	}
	checkRepo(t, st.Dir)
}

// TestFailedCommitUndoesTheWrite: when the commit cannot be made (here a
// live git process holds the index lock), the write is undone, so an
// unacknowledged write never appears later as a hand edit.
func TestFailedCommitUndoesTheWrite(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "keep", Repo: "v1"})
	lock, err := os.OpenFile(filepath.Join(st.Dir, ".git", "index.lock"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { lock.Close(); os.Remove(lock.Name()) }()
	if _, err := st.Create(state.KindModel, &state.Model{Name: "new"}); err == nil {
		t.Fatal("create succeeded while the index was locked by a live process")
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "models", "new.yaml")); !os.IsNotExist(err) {
		t.Errorf("the failed create left its file: %v", err)
	}
	if _, err := st.Update(state.KindModel, "keep", "", func(o state.Object) (state.Object, error) {
		o.(*state.Model).Repo = "v2"
		return o, nil
	}); err == nil {
		t.Fatal("update succeeded while locked")
	}
	if err := st.Delete(state.KindModel, "keep", ""); err == nil {
		t.Fatal("delete succeeded while locked")
	}
	e, err := st.Get(state.KindModel, "keep")
	if err != nil || e.Object.(*state.Model).Repo != "v1" {
		t.Errorf("failed update/delete changed the file: %+v %v", e.Object, err)
	}
	// A lock that no process holds (left by a killed one) is not in the way.
	lock.Close()
	mustCreate(t, st, state.KindModel, &state.Model{Name: "after"})
	// The failed commits leave unreferenced blobs ("dangling", which git
	// reports but does not count as errors); the repository is sound.
	if out := git(t, st.Dir, "fsck", "--strict", "--no-dangling", "--no-progress"); strings.TrimSpace(out) != "" {
		t.Errorf("git fsck: %s", out)
	}
	if out := git(t, st.Dir, "status", "--porcelain"); strings.TrimSpace(out) != "" {
		t.Errorf("git status not clean:\n%s", out)
	}
}

// TestUpdateKeepsInvalidHandEdit: an update never overwrites a hand edit
// that is not valid yet; it is refused, and the edit stays on disk.
func TestUpdateKeepsInvalidHandEdit(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "good", Repo: "tinyllama"})
	edit := []byte("name: good\nrepo: tinyllama-v2\nrepoo: typo\n")
	path := filepath.Join(st.Dir, "models", "good.yaml")
	os.WriteFile(path, edit, 0o644)
	_, err := st.Update(state.KindModel, "good", "", func(o state.Object) (state.Object, error) {
		o.(*state.Model).Tag = "x"
		return o, nil
	})
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "uncommitted changes that are not valid") {
		t.Fatalf("update over an invalid edit: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, edit) {
		t.Errorf("the hand edit was overwritten:\n%s", b)
	}
}

// TestCommitTrailers: a write made for a context commits as its author,
// with its On-behalf-of and other trailers, in that order, as git reads
// them; a value cannot add a line of its own.
func TestCommitTrailers(t *testing.T) {
	st := testenv.NewStore(t)
	ctx := state.WithAuthor(context.Background(), repo.Signature{Name: "claude", Email: "aima@localhost"})
	ctx = state.WithOnBehalf(ctx, "ada")
	ctx = state.WithTrailer(ctx, "MCP-Client", "claude-code 1.0\nSigned-off-by: someone")
	if _, err := st.For(ctx).Create(state.KindModel, &state.Model{Name: "m", Source: "ollama", Repo: "x"}); err != nil {
		t.Fatal(err)
	}
	got := git(t, st.Dir, "log", "-1", "--format=%an|%(trailers:only,unfold,separator=;)")
	if want := "claude|On-behalf-of: ada;MCP-Client: claude-code 1.0 Signed-off-by: someone\n"; got != want {
		t.Errorf("commit = %q, want %q", got, want)
	}
	if _, err := st.Create(state.KindModel, &state.Model{Name: "n", Source: "ollama", Repo: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := git(t, st.Dir, "log", "-1", "--format=%B"); strings.Contains(got, "MCP-Client") {
		t.Errorf("the store itself took the context's trailer: %q", got)
	}
}
