package remote

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// gitIn runs the real git CLI in dir with no user or system config.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir,
		"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// bare creates an empty bare repository and returns its file:// URL.
func bare(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	gitIn(t, filepath.Dir(dir), "init", "--bare", "-q", "-b", "main", dir)
	return "file://" + dir
}

// work creates a repository on main with one commit of file a and returns
// its directory.
func work(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main")
	commitFile(t, dir, "a", "1")
	return dir
}

// commitFile writes name in dir and commits it; it returns the commit.
func commitFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "add", name)
	gitIn(t, dir, "commit", "-q", "-m", name+"="+content)
	return gitIn(t, dir, "rev-parse", "HEAD")
}

func wantKind(t *testing.T, what string, err error, want Kind) {
	t.Helper()
	if got := KindOf(err); got != want {
		t.Errorf("%s: %v (kind %v), want kind %v", what, err, got, want)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"origin": true, "backup-2": true, "my_remote.x": true,
		"": false, "a b": false, "a/b": false, "a:b": false, "-x": false, "a..b": false, "a*": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestValidURL(t *testing.T) {
	for u, want := range map[string]bool{
		"file:///srv/state.git": true, "https://git.example.com/x.git": true,
		"ssh://git@host/x.git": true, "git@host:ops/x.git": true, "/srv/state.git": true,
		"": false, "  ": false, "http://[::1": false,
	} {
		if got := ValidURL(u); got != want {
			t.Errorf("ValidURL(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://deploy:s3cret@example.com/x.git": "https://deploy:xxxxx@example.com/x.git",
		"https://deploy@example.com/x.git":        "https://deploy@example.com/x.git",
		"git@host:ops/x.git":                      "git@host:ops/x.git",
		"file:///srv/x.git":                       "file:///srv/x.git",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuthFromEnvironment(t *testing.T) {
	t.Setenv("AIMA_GIT_TOKEN", "tok")
	t.Setenv("AIMA_GIT_USERNAME", "")
	a, err := Auth("https://git.example.com/x.git")
	if err != nil || a == nil || !strings.Contains(a.String(), "git") || strings.Contains(a.String(), "tok") {
		t.Errorf("https with a token: %v, %v", a, err)
	}
	t.Setenv("AIMA_GIT_TOKEN", "")
	t.Setenv("AIMA_GIT_USERNAME", "deploy")
	t.Setenv("AIMA_GIT_PASSWORD", "pw")
	if a, err := Auth("https://git.example.com/x.git"); err != nil || a == nil || !strings.Contains(a.String(), "deploy") || strings.Contains(a.String(), "pw") {
		t.Errorf("https with user and password: %v, %v", a, err)
	}
	t.Setenv("AIMA_GIT_USERNAME", "")
	t.Setenv("AIMA_GIT_PASSWORD", "")
	if a, err := Auth("https://git.example.com/x.git"); a != nil || err != nil {
		t.Errorf("https without credentials: %v, %v", a, err)
	}
	if a, err := Auth("file:///tmp/x.git"); a != nil || err != nil {
		t.Errorf("file: %v, %v", a, err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("AIMA_GIT_SSH_KEY", "")
	_, err = Auth("ssh://git@git.example.com/x.git")
	wantKind(t, "ssh without an agent", err, Unavailable)
	t.Setenv("AIMA_GIT_SSH_KEY", filepath.Join(t.TempDir(), "missing"))
	if _, err := Auth("ssh://git@git.example.com/x.git"); err == nil || !strings.Contains(err.Error(), "AIMA_GIT_SSH_KEY") {
		t.Errorf("ssh with a missing key file: %v", err)
	}
}

func TestDefaultBranchOfRefs(t *testing.T) {
	h1, h2 := plumbing.NewHash("1111111111111111111111111111111111111111"), plumbing.NewHash("2222222222222222222222222222222222222222")
	branch := func(n string, h plumbing.Hash) *plumbing.Reference {
		return plumbing.NewHashReference(plumbing.NewBranchReferenceName(n), h)
	}
	tests := []struct {
		name string
		refs []*plumbing.Reference
		want string
	}{
		{"none", nil, ""},
		{"HEAD names it", []*plumbing.Reference{plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/trunk"), branch("main", h1)}, "trunk"},
		{"the branch at HEAD's commit", []*plumbing.Reference{plumbing.NewHashReference(plumbing.HEAD, h2), branch("main", h1), branch("prod", h2)}, "prod"},
		{"main first among equals", []*plumbing.Reference{plumbing.NewHashReference(plumbing.HEAD, h1), branch("a", h1), branch("master", h1), branch("main", h1)}, "main"},
		{"no HEAD: master before others", []*plumbing.Reference{branch("a", h1), branch("master", h2)}, "master"},
		{"no HEAD, no main: by name", []*plumbing.Reference{branch("b", h1), branch("a", h2)}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultBranch(tt.refs); got != tt.want {
				t.Errorf("defaultBranch = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddAndList(t *testing.T) {
	dir := work(t)
	if err := Add(dir, "origin", "https://deploy:s3cret@example.com/x.git"); err != nil {
		t.Fatal(err)
	}
	if err := Add(dir, "backup", "file:///srv/backup.git"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "adding origin twice", Add(dir, "origin", "file:///elsewhere.git"), Exists)
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Remote{{Name: "backup", URL: "file:///srv/backup.git"}, {Name: "origin", URL: "https://deploy:xxxxx@example.com/x.git"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if rms, err := List(t.TempDir()); rms != nil || err != nil {
		t.Errorf("List without a repository: %v, %v", rms, err)
	}
}

func TestPushFetchTrack(t *testing.T) {
	ctx := context.Background()
	url := bare(t)
	a := work(t)
	if err := Add(a, "origin", url); err != nil {
		t.Fatal(err)
	}
	if HeadBranch(a) != "main" {
		t.Errorf("HeadBranch = %q", HeadBranch(a))
	}
	tip := gitIn(t, a, "rev-parse", "HEAD")
	rev, upToDate, err := Push(ctx, a, "origin", "main", "main")
	if err != nil || rev != tip || upToDate {
		t.Fatalf("push: %s %v %v, want %s", rev, upToDate, err, tip)
	}
	if got, err := Tracked(a, "origin", "main"); got != tip || err != nil {
		t.Errorf("after a push the remote-tracking branch is at %q (%v), want %s", got, err, tip)
	}
	if _, upToDate, err := Push(ctx, a, "origin", "main", "main"); !upToDate || err != nil {
		t.Errorf("second push: up to date %v, %v", upToDate, err)
	}

	// b: a clone set up as Configure does; it fetches into its own ref
	// and moves no branch.
	b := t.TempDir()
	gitIn(t, b, "init", "-q", "-b", "main")
	if err := Configure(b, "origin", url, "main"); err != nil {
		t.Fatal(err)
	}
	if cfg := gitIn(t, b, "config", "branch.main.merge"); cfg != "refs/heads/main" {
		t.Errorf("upstream of main: %q", cfg)
	}
	got, err := Fetch(ctx, b, "origin", "main", "refs/aima/incoming/origin/main")
	if err != nil || got != tip {
		t.Fatalf("fetch: %s, %v, want %s", got, err, tip)
	}
	if ref := gitIn(t, b, "rev-parse", "refs/aima/incoming/origin/main"); ref != tip {
		t.Errorf("incoming ref at %s", ref)
	}
	if tracked, err := Tracked(b, "origin", "main"); tracked != "" || err != nil {
		t.Errorf("fetch moved the remote-tracking branch to %q (%v)", tracked, err)
	}
	if err := Track(b, "origin", "main", tip); err != nil {
		t.Fatal(err)
	}
	if tracked, _ := Tracked(b, "origin", "main"); tracked != tip {
		t.Errorf("Track: at %q, want %s", tracked, tip)
	}

	// Someone else pushes: a's next push is rejected, not forced.
	c := filepath.Join(t.TempDir(), "c")
	gitIn(t, filepath.Dir(c), "clone", "-q", url, c)
	commitFile(t, c, "b", "from c")
	gitIn(t, c, "push", "-q", "origin", "HEAD:main")
	commitFile(t, a, "a", "2")
	_, _, err = Push(ctx, a, "origin", "main", "main")
	wantKind(t, "push of a diverged branch", err, Rejected)
	if err == nil || !strings.Contains(err.Error(), "aima pull origin main") {
		t.Errorf("rejected push does not say what to do: %v", err)
	}

	_, err = Fetch(ctx, b, "origin", "nope", "refs/aima/incoming/origin/nope")
	wantKind(t, "fetch of a missing branch", err, NotFound)
	_, err = Fetch(ctx, b, "upstream", "main", "refs/aima/incoming/upstream/main")
	wantKind(t, "fetch from a remote not configured", err, NotFound)
	_, _, err = Push(ctx, b, "upstream", "main", "main")
	wantKind(t, "push to a remote not configured", err, NotFound)
}

func TestFetchFromEmptyRemote(t *testing.T) {
	dir := work(t)
	if err := Add(dir, "origin", bare(t)); err != nil {
		t.Fatal(err)
	}
	_, err := Fetch(context.Background(), dir, "origin", "main", "refs/aima/incoming/origin/main")
	wantKind(t, "fetch from an empty remote", err, NotFound)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("error does not say the remote is empty: %v", err)
	}
}

func TestDefaultBranch(t *testing.T) {
	ctx := context.Background()
	url := bare(t)
	if branch, empty, err := DefaultBranch(ctx, url); branch != "" || !empty || err != nil {
		t.Errorf("empty remote: %q %v %v", branch, empty, err)
	}
	a := work(t)
	gitIn(t, a, "push", "-q", url, "main:trunk")
	if branch, empty, err := DefaultBranch(ctx, url); branch != "trunk" || empty || err != nil {
		t.Errorf("remote with trunk: %q %v %v", branch, empty, err)
	}
}

// An unreachable remote is Unavailable, and its password never shows.
func TestUnreachableRemote(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	url := "http://deploy:s3cret@" + addr + "/x.git"
	t.Setenv("AIMA_GIT_TOKEN", "")
	t.Setenv("AIMA_GIT_USERNAME", "")
	t.Setenv("AIMA_GIT_PASSWORD", "")

	_, _, err = DefaultBranch(context.Background(), url)
	wantKind(t, "list of an unreachable remote", err, Unavailable)
	dir := work(t)
	if err := Add(dir, "origin", url); err != nil {
		t.Fatal(err)
	}
	_, ferr := Fetch(context.Background(), dir, "origin", "main", "refs/aima/incoming/origin/main")
	wantKind(t, "fetch from an unreachable remote", ferr, Unavailable)
	for _, e := range []error{err, ferr} {
		if e != nil && strings.Contains(e.Error(), "s3cret") {
			t.Errorf("the password shows: %v", e)
		}
	}
	var re *Error
	if !errors.As(ferr, &re) || !strings.HasPrefix(re.Op, "fetch http://deploy:xxxxx@") {
		t.Errorf("error does not name the redacted remote: %#v", ferr)
	}
}
