package state_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// gitEnv runs the real git CLI in dir with no user or system config.
func gitEnv(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir,
		"GIT_AUTHOR_NAME=Ext", "GIT_AUTHOR_EMAIL=ext@example.com",
		"GIT_COMMITTER_NAME=Ext", "GIT_COMMITTER_EMAIL=ext@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bareRemote creates an empty bare repository and returns its path.
func bareRemote(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	gitEnv(t, filepath.Dir(dir), "init", "--bare", "-q", "-b", "main", dir)
	return dir
}

// published returns a state directory with one model, pushed to a new bare
// repository, and the repository's file:// URL.
func published(t *testing.T) (*state.Store, string) {
	t.Helper()
	a := testenv.NewStore(t)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "tinyllama"})
	url := "file://" + bareRemote(t)
	if err := a.AddRemote("origin", url); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Push(context.Background(), "", ""); err != nil {
		t.Fatalf("push: %v", err)
	}
	return a, url
}

// cloneStore is `aima init --from url` into a new directory.
func cloneStore(t *testing.T, url string) *state.Store {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), ".aima"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.InitFrom(context.Background(), url, ""); err != nil {
		t.Fatalf("init --from %s: %v", url, err)
	}
	return st
}

func pull(t *testing.T, st *state.Store) state.PullResult {
	t.Helper()
	res, err := st.Pull(context.Background(), "", "", state.PullOptions{})
	if err != nil {
		t.Fatalf("pull into %s: %v", st.Dir, err)
	}
	return res
}

func push(t *testing.T, st *state.Store) {
	t.Helper()
	if _, err := st.Push(context.Background(), "", ""); err != nil {
		t.Fatalf("push from %s: %v", st.Dir, err)
	}
}

func head(t *testing.T, st *state.Store) string {
	t.Helper()
	return strings.TrimSpace(gitEnv(t, st.Dir, "rev-parse", "HEAD"))
}

func fileOf(t *testing.T, st *state.Store, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(st.Dir, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return string(b)
}

// sameFiles asserts that two state directories hold the same committed files.
func sameFiles(t *testing.T, a, b *state.Store) {
	t.Helper()
	la := gitEnv(t, a.Dir, "ls-files", "-s")
	lb := gitEnv(t, b.Dir, "ls-files", "-s")
	if la != lb {
		t.Errorf("files differ:\n%s: %s\n%s: %s", a.Dir, la, b.Dir, lb)
	}
}

func instance(t *testing.T, st *state.Store) string {
	t.Helper()
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	return set.Instance
}

func TestRemoteTwoFollowersConverge(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	c := cloneStore(t, url)
	checkRepo(t, b.Dir)
	if head(t, b) != head(t, a) {
		t.Fatalf("clone HEAD %s, want %s", head(t, b), head(t, a))
	}
	fileOf(t, b, "models/m1.yaml")
	// Each machine has its own instance: they must not manage each other's containers.
	ia, ib, ic := instance(t, a), instance(t, b), instance(t, c)
	if ia == ib || ib == ic || ia == ic {
		t.Errorf("instances not distinct: %s %s %s", ia, ib, ic)
	}

	mustCreate(t, a, state.KindModel, &state.Model{Name: "m2", Source: "ollama", Repo: "phi"})
	if err := a.Delete(state.KindModel, "m1", ""); err != nil {
		t.Fatal(err)
	}
	push(t, a)
	for _, st := range []*state.Store{b, c} {
		res := pull(t, st)
		if res.Outcome != state.PullFastForward || res.Head != head(t, a) {
			t.Errorf("pull: %+v, want a fast-forward to %s", res, head(t, a))
		}
		checkRepo(t, st.Dir)
		sameFiles(t, a, st)
		if _, err := os.Stat(filepath.Join(st.Dir, "models/m1.yaml")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("models/m1.yaml deleted upstream is still there: %v", err)
		}
		if instance(t, st) == ia {
			t.Errorf("%s took the publisher's instance", st.Dir)
		}
	}
	if res := pull(t, b); res.Outcome != state.PullUpToDate {
		t.Errorf("second pull: %+v", res)
	}
}

func TestRemoteInvalidRevisionIsRefused(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	good := head(t, b)

	// Someone pushes a bad file with plain git.
	work := filepath.Join(t.TempDir(), "work")
	gitEnv(t, filepath.Dir(work), "clone", "-q", url, work)
	os.WriteFile(filepath.Join(work, "models", "bad.yaml"), []byte("source: nowhere\nrepo: [1\n"), 0o644)
	os.WriteFile(filepath.Join(work, "models", "ok.yaml"), []byte("source: ollama\nrepo: fine\n"), 0o644)
	gitEnv(t, work, "add", "-A")
	gitEnv(t, work, "commit", "-q", "-m", "bad")
	gitEnv(t, work, "push", "-q", "origin", "HEAD:main")

	_, err := b.Pull(context.Background(), "", "", state.PullOptions{})
	var ref *state.RefusedError
	if !errors.As(err, &ref) || !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("pull of an invalid revision: %v, want a RefusedError", err)
	}
	if !strings.Contains(err.Error(), "models/bad.yaml") {
		t.Errorf("error does not name the file: %v", err)
	}
	if head(t, b) != good {
		t.Errorf("HEAD moved to %s", head(t, b))
	}
	for _, f := range []string{"models/bad.yaml", "models/ok.yaml"} {
		if _, err := os.Stat(filepath.Join(b.Dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of a refused revision was written", f)
		}
	}
	checkRepo(t, b.Dir)

	// Fixed upstream: the next pull applies it.
	os.WriteFile(filepath.Join(work, "models", "bad.yaml"), []byte("source: ollama\nrepo: fixed\n"), 0o644)
	gitEnv(t, work, "commit", "-q", "-am", "fix")
	gitEnv(t, work, "push", "-q", "origin", "HEAD:main")
	if res := pull(t, b); res.Outcome != state.PullFastForward {
		t.Errorf("pull after the fix: %+v", res)
	}
	fileOf(t, b, "models/bad.yaml")
	checkRepo(t, b.Dir)
	_ = a
}

func TestRemoteRefusesUnsafeFiles(t *testing.T) {
	_, url := published(t)
	b := cloneStore(t, url)
	work := filepath.Join(t.TempDir(), "work")
	gitEnv(t, filepath.Dir(work), "clone", "-q", url, work)
	os.MkdirAll(filepath.Join(work, ".local"), 0o755)
	os.WriteFile(filepath.Join(work, ".local", "instance"), []byte("aima-stolen\n"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(work, "models", "link.yaml"))
	gitEnv(t, work, "add", "-f", "-A")
	gitEnv(t, work, "commit", "-q", "-m", "unsafe")
	gitEnv(t, work, "push", "-q", "origin", "HEAD:main")
	_, err := b.Pull(context.Background(), "", "", state.PullOptions{})
	if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), ".local/instance") || !strings.Contains(err.Error(), "models/link.yaml") {
		t.Fatalf("pull: %v, want both unsafe files refused", err)
	}
	if instance(t, b) == "aima-stolen" {
		t.Error("a remote set this machine's instance")
	}
}

func TestRemoteDivergentEditsMerge(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "from-a", Source: "ollama", Repo: "a"})
	push(t, a)
	mustCreate(t, b, state.KindModel, &state.Model{Name: "from-b", Source: "ollama", Repo: "b"})
	local := head(t, b)

	res := pull(t, b)
	if res.Outcome != state.PullMerge {
		t.Fatalf("pull: %+v, want a merge", res)
	}
	parents := strings.Fields(gitEnv(t, b.Dir, "rev-list", "--parents", "-n", "1", "HEAD"))
	if len(parents) != 3 || parents[1] != local || parents[2] != head(t, a) {
		t.Errorf("merge commit parents %v, want [merge %s %s]", parents, local, head(t, a))
	}
	fileOf(t, b, "models/from-a.yaml")
	fileOf(t, b, "models/from-b.yaml")
	checkRepo(t, b.Dir)

	// The merge goes back upstream, and the publisher fast-forwards to it.
	push(t, b)
	if res := pull(t, a); res.Outcome != state.PullFastForward {
		t.Errorf("publisher pull: %+v", res)
	}
	sameFiles(t, a, b)
	checkRepo(t, a.Dir)
}

func TestRemoteSameFileIsConflict(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	update := func(st *state.Store, repoName string) {
		t.Helper()
		_, err := st.Update(state.KindModel, "m1", "", func(o state.Object) (state.Object, error) {
			o.(*state.Model).Repo = repoName
			return o, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	update(a, "upstream")
	push(t, a)
	update(b, "local")
	local, mine := head(t, b), fileOf(t, b, "models/m1.yaml")

	_, err := b.Pull(context.Background(), "", "", state.PullOptions{})
	var ce *state.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, state.ErrConflict) {
		t.Fatalf("pull: %v, want a conflict", err)
	}
	for _, want := range []string{"models/m1.yaml", local[:12], head(t, a)[:12]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict error does not name %s: %v", want, err)
		}
	}
	if head(t, b) != local || fileOf(t, b, "models/m1.yaml") != mine {
		t.Errorf("a conflict changed the local state")
	}
	checkRepo(t, b.Dir)

	// Push is refused too: the remote has a commit we lack.
	if _, err := b.Push(context.Background(), "", ""); !errors.Is(err, state.ErrConflict) {
		t.Errorf("push of a diverged branch: %v, want a conflict", err)
	}

	// Settled in favour of the remote: both histories kept.
	res, err := b.Pull(context.Background(), "", "", state.PullOptions{Resolve: "theirs"})
	if err != nil || res.Outcome != state.PullMerge {
		t.Fatalf("pull --resolve theirs: %+v, %v", res, err)
	}
	if !strings.Contains(fileOf(t, b, "models/m1.yaml"), "upstream") {
		t.Errorf("theirs not taken:\n%s", fileOf(t, b, "models/m1.yaml"))
	}
	if out := gitEnv(t, b.Dir, "merge-base", "--is-ancestor", local, "HEAD"); out != "" {
		t.Errorf("local commit lost: %s", out)
	}
	checkRepo(t, b.Dir)
}

func TestRemoteUncommittedEditIsNotOverwritten(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	_, err := a.Update(state.KindModel, "m1", "", func(o state.Object) (state.Object, error) {
		o.(*state.Model).Repo = "upstream"
		return o, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	push(t, a)
	// An invalid edit here, not committed (the agent reports it).
	os.WriteFile(filepath.Join(b.Dir, "models/m1.yaml"), []byte("repo: [broken\n"), 0o644)
	_, err = b.Pull(context.Background(), "", "", state.PullOptions{})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("pull over an uncommitted edit: %v, want a conflict", err)
	}
	if got := fileOf(t, b, "models/m1.yaml"); got != "repo: [broken\n" {
		t.Errorf("the local edit was overwritten: %q", got)
	}
}

func TestRemoteRollbackOfPulledChange(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m2", Source: "ollama", Repo: "phi"})
	push(t, a)
	pull(t, b)
	paths, err := b.Rollback("HEAD~1", "")
	if err != nil || len(paths) != 1 || paths[0] != "models/m2.yaml" {
		t.Fatalf("rollback HEAD~1: %v, %v", paths, err)
	}
	if _, err := os.Stat(filepath.Join(b.Dir, "models/m2.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Error("models/m2.yaml still there after the rollback")
	}
	checkRepo(t, b.Dir)
}

func TestRemoteInitFromEmptyRemote(t *testing.T) {
	url := "file://" + bareRemote(t)
	b := cloneStore(t, url)
	if !b.Initialized() {
		t.Fatal("not a state directory")
	}
	mustCreate(t, b, state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "x"})
	push(t, b)
	c := cloneStore(t, url)
	sameFiles(t, b, c)
	checkRepo(t, c.Dir)
}

// gitHTTP serves the bare repositories under root with git's own
// http-backend, behind basic auth when password is not empty.
func gitHTTP(t *testing.T, root, password string) *httptest.Server {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		out, _ := exec.Command("git", "--exec-path").Output()
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if password != "" {
			if _, pw, ok := r.BasicAuth(); !ok || pw != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRemoteOverHTTP(t *testing.T) {
	bare := bareRemote(t)
	gitEnv(t, bare, "config", "http.receivepack", "true")
	srv := gitHTTP(t, filepath.Dir(bare), "s3cret-token")
	url := srv.URL + "/remote.git"

	a := testenv.NewStore(t)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "x"})
	if err := a.AddRemote("origin", url); err != nil {
		t.Fatal(err)
	}
	// Without credentials the server says no, and the token never shows.
	t.Setenv("AIMA_GIT_TOKEN", "")
	if _, err := a.Push(context.Background(), "", ""); err == nil {
		t.Fatal("push without credentials succeeded")
	}
	t.Setenv("AIMA_GIT_TOKEN", "s3cret-token")
	push(t, a)

	b := cloneStore(t, url)
	sameFiles(t, a, b)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m2", Source: "ollama", Repo: "y"})
	push(t, a)
	if res := pull(t, b); res.Outcome != state.PullFastForward {
		t.Errorf("pull over http: %+v", res)
	}
	sameFiles(t, a, b)
	checkRepo(t, b.Dir)
	if b2, _ := os.ReadFile(filepath.Join(b.Dir, ".git", "config")); strings.Contains(string(b2), "s3cret") {
		t.Error("the token was written to .git/config")
	}
}

func TestRemotePullKeepsThisMachinesInstance(t *testing.T) {
	a, url := published(t)
	mine := instance(t, a)
	work := filepath.Join(t.TempDir(), "work")
	gitEnv(t, filepath.Dir(work), "clone", "-q", url, work)
	b, _ := os.ReadFile(filepath.Join(work, "aima.yaml"))
	os.WriteFile(filepath.Join(work, "aima.yaml"), []byte(strings.Replace(string(b), "instance: "+mine, "instance: aima-other", 1)), 0o644)
	gitEnv(t, work, "commit", "-q", "-am", "another instance")
	gitEnv(t, work, "push", "-q", "origin", "HEAD:main")

	if res := pull(t, a); res.Outcome != state.PullFastForward {
		t.Fatalf("pull: %+v", res)
	}
	if !strings.Contains(fileOf(t, a, "aima.yaml"), "aima-other") {
		t.Error("aima.yaml not pulled")
	}
	if got := instance(t, a); got != mine {
		t.Errorf("instance changed by a pull: %s, want %s (its containers would be orphaned)", got, mine)
	}
	checkRepo(t, a.Dir)
}

// The errors of remotes have this package's kinds (package remote's are
// mapped onto them), which the CLI's exit codes and the follower's retries
// branch on.
func TestRemoteErrorKinds(t *testing.T) {
	ctx := context.Background()
	a := testenv.NewStore(t)
	if err := a.AddRemote("bad name", "file:///x.git"); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("bad remote name: %v, want ErrInvalid", err)
	}
	var ie *state.InvalidError
	if err := a.AddRemote("origin", " "); !errors.As(err, &ie) || ie.Problems[0].Field != "/url" {
		t.Errorf("bad URL: %v, want an invalid /url", err)
	}
	if err := a.AddRemote("origin", "file://"+bareRemote(t)); err != nil {
		t.Fatal(err)
	}
	if err := a.AddRemote("origin", "file:///elsewhere.git"); !errors.Is(err, state.ErrExists) {
		t.Errorf("origin twice: %v, want ErrExists", err)
	}
	if _, err := a.Pull(ctx, "", "", state.PullOptions{}); !errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("pull from an empty remote: %v, want ErrNotFound", err)
	}
	if _, err := a.Fetch(ctx, "upstream", ""); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("fetch from a remote not configured: %v, want ErrNotFound", err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("AIMA_GIT_SSH_KEY", "")
	if err := a.AddRemote("ssh", "ssh://git@git.example.com/x.git"); err != nil {
		t.Fatal(err)
	}
	_, err := a.Push(ctx, "ssh", "")
	if !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("ssh without an agent: %v, want ErrUnavailable", err)
	}
	if got := state.Code(fmt.Errorf("wrapped: %w", err)); got != "unavailable" {
		t.Errorf("Code of a wrapped remote error: %q", got)
	}
}
