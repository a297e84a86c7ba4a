package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	testAuthor = Signature{Name: "Test Author", Email: "test@example.com"}
	testWhen   = time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("", 3600))
)

// gitCmd runs the real git CLI in dir and returns its combined output.
func gitCmd(t testing.TB, dir string, args ...string) string {
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

// put writes a file into the work tree atomically, as state.Store does,
// and returns the Change that records it.
func put(t testing.TB, dir, path, content string) Change {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := full + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, full); err != nil {
		t.Fatal(err)
	}
	return Change{Path: path, Data: []byte(content)}
}

// del removes a file from the work tree and returns the Change.
func del(t testing.TB, dir, path string) Change {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(path))); err != nil {
		t.Fatal(err)
	}
	return Change{Path: path, Delete: true}
}

func commit(t testing.TB, r *Repo, msg string, changes ...Change) string {
	t.Helper()
	h, err := r.Commit(changes, msg, testAuthor, testWhen)
	if err != nil {
		t.Fatalf("Commit(%s): %v", msg, err)
	}
	return h
}

// checkClean asserts what a user of git expects after a commit: fsck
// finds nothing, status is empty, and the index lists the work tree.
func checkClean(t *testing.T, dir string) {
	t.Helper()
	if out := gitCmd(t, dir, "fsck", "--strict", "--no-dangling"); out != "" {
		t.Errorf("git fsck --strict printed:\n%s", out)
	}
	if out := gitCmd(t, dir, "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Errorf("git status --porcelain printed:\n%s", out)
	}
	index := strings.Fields(gitCmd(t, dir, "ls-files"))
	var work []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			work = append(work, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(index)
	slices.Sort(work)
	if diff := cmp.Diff(work, index); diff != "" {
		t.Errorf("git ls-files differs from the work tree (-work +index):\n%s", diff)
	}
	if locks, _ := filepath.Glob(filepath.Join(dir, ".git", "*.lock")); len(locks) > 0 {
		t.Errorf("lock files left: %v", locks)
	}
	if locks, _ := filepath.Glob(filepath.Join(dir, ".git", "refs", "heads", "*.lock")); len(locks) > 0 {
		t.Errorf("lock files left: %v", locks)
	}
}

func TestOpenInitialisesMain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Head(); !errors.Is(err, ErrNoCommits) {
		t.Errorf("Head of a new repository: err = %v, want ErrNoCommits", err)
	}
	commit(t, r, "first", put(t, dir, "aima.yaml", "format: 1\n"))
	if got := strings.TrimSpace(gitCmd(t, dir, "symbolic-ref", "HEAD")); got != "refs/heads/main" {
		t.Errorf("HEAD -> %s, want refs/heads/main", got)
	}
	// Opening again finds the same repository.
	r2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := r.Head()
	h2, err := r2.Head()
	if err != nil || h1 != h2 {
		t.Errorf("reopened Head = %s, %v; want %s", h2, err, h1)
	}
	checkClean(t, dir)
}

func TestCommitSequence(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, r, "init",
		put(t, dir, ".gitignore", ".local/\n"),
		put(t, dir, "models/a.yaml", "name: a\n"),
		put(t, dir, "skills/a.md", "# a\n"))
	checkClean(t, dir)
	commit(t, r, "update and create",
		put(t, dir, "models/a.yaml", "name: a\nsize: 2\n"),
		put(t, dir, "services/x.yaml", "model: a\n"))
	checkClean(t, dir)
	commit(t, r, "delete last skill", del(t, dir, "skills/a.md"))
	checkClean(t, dir)
	commit(t, r, "nested", put(t, dir, "catalog/deep/er/r.yaml", "x: 1\n"), put(t, dir, "models/a.b", "dot sorts before slash\n"))
	checkClean(t, dir)
	commit(t, r, "delete nested", del(t, dir, "catalog/deep/er/r.yaml"))
	checkClean(t, dir)

	got := gitCmd(t, dir, "log", "--name-status", "--format=%s")
	want := `delete nested

D	catalog/deep/er/r.yaml
nested

A	catalog/deep/er/r.yaml
A	models/a.b
delete last skill

D	skills/a.md
update and create

M	models/a.yaml
A	services/x.yaml
init

A	.gitignore
A	models/a.yaml
A	skills/a.md
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("git log --name-status (-want +got):\n%s", diff)
	}
	// The emptied directories are gone from the tree, not left empty.
	if got := gitCmd(t, dir, "ls-tree", "--name-only", "HEAD"); got != ".gitignore\nmodels\nservices\n" {
		t.Errorf("git ls-tree HEAD = %q", got)
	}
	if got := gitCmd(t, dir, "log", "-1", "--format=%an <%ae> %ad", "--date=iso"); got != "Test Author <test@example.com> 2025-03-01 12:00:00 +0100\n" {
		t.Errorf("author = %q", got)
	}
}

func TestNoChange(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	if _, err := r.Commit(nil, "empty", testAuthor, testWhen); !errors.Is(err, ErrNoChange) {
		t.Errorf("Commit(nil) err = %v, want ErrNoChange", err)
	}
	// Deleting nothing in an empty repository changes nothing.
	if _, err := r.Commit([]Change{{Path: "models/x.yaml", Delete: true}}, "noop", testAuthor, testWhen); !errors.Is(err, ErrNoChange) {
		t.Errorf("delete in empty repo: err = %v, want ErrNoChange", err)
	}
	h := commit(t, r, "one", put(t, dir, "models/a.yaml", "a\n"))
	// The same content written again (new inode, new mtime) is no change,
	// and the index is refreshed so status stays clean.
	_, err := r.Commit([]Change{put(t, dir, "models/a.yaml", "a\n")}, "again", testAuthor, testWhen)
	if !errors.Is(err, ErrNoChange) {
		t.Errorf("identical commit: err = %v, want ErrNoChange", err)
	}
	if head, _ := r.Head(); head != h {
		t.Errorf("Head moved to %s after ErrNoChange", head)
	}
	if n := strings.Count(gitCmd(t, dir, "log", "--format=%H"), "\n"); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	checkClean(t, dir)
}

func TestTreeReadLogResolve(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	c1 := commit(t, r, "service create: x", put(t, dir, "services/x.yaml", "v1\n"), put(t, dir, "models/m.yaml", "m\n"))
	c2 := commit(t, r, "service update: x", put(t, dir, "services/x.yaml", "v2\n"))
	c3 := commit(t, r, "model delete: m\n\nbody", del(t, dir, "models/m.yaml"), put(t, dir, "aima.yaml", "a\n"))

	tree, err := r.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"aima.yaml": BlobHash([]byte("a\n")), "services/x.yaml": BlobHash([]byte("v2\n"))}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("Tree(HEAD) (-want +got):\n%s", diff)
	}
	tree, err = r.Tree(c1)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"models/m.yaml": BlobHash([]byte("m\n")), "services/x.yaml": BlobHash([]byte("v1\n"))}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("Tree(c1) (-want +got):\n%s", diff)
	}
	// Tree agrees with git.
	for path, h := range tree {
		if got := strings.TrimSpace(gitCmd(t, dir, "rev-parse", c1+":"+path)); got != h {
			t.Errorf("%s at c1: git says %s, Tree says %s", path, got, h)
		}
	}

	for _, tc := range []struct{ rev, path, want string }{
		{"", "services/x.yaml", "v2\n"},
		{"HEAD~1", "services/x.yaml", "v2\n"},
		{"HEAD~2", "services/x.yaml", "v1\n"},
		{c1[:7], "models/m.yaml", "m\n"},
		{"main", "aima.yaml", "a\n"},
	} {
		got, err := r.Read(tc.rev, tc.path)
		if err != nil || string(got) != tc.want {
			t.Errorf("Read(%q, %q) = %q, %v; want %q", tc.rev, tc.path, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ rev, path string }{{"", "models/m.yaml"}, {"", "services"}, {"", "nope/x"}, {c1, "aima.yaml"}} {
		if _, err := r.Read(tc.rev, tc.path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Read(%q, %q) err = %v, want ErrNotExist", tc.rev, tc.path, err)
		}
	}

	for _, tc := range []struct{ rev, want string }{
		{"", c3}, {"HEAD", c3}, {"main", c3}, {"refs/heads/main", c3}, {c2, c2}, {c2[:8], c2},
		{"HEAD~1", c2}, {"HEAD^", c2}, {"HEAD~2", c1}, {"main~2", c1},
	} {
		if got, err := r.Resolve(tc.rev); err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", tc.rev, got, err, tc.want)
		}
	}
	for _, rev := range []string{"HEAD~3", "nope", "0123456789012345678901234567890123456789"} {
		if _, err := r.Resolve(rev); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("Resolve(%q) err = %v, want ErrUnknownRevision", rev, err)
		}
	}

	strip := func(cs []CommitInfo) []CommitInfo {
		for i := range cs {
			if cs[i].Author != testAuthor.Name || cs[i].Email != testAuthor.Email || !cs[i].When.Equal(testWhen) {
				t.Errorf("commit %s: author %s <%s> %v", cs[i].Hash, cs[i].Author, cs[i].Email, cs[i].When)
			}
			cs[i].Author, cs[i].Email, cs[i].When = "", "", time.Time{}
		}
		return cs
	}
	all := []CommitInfo{
		{Hash: c3, Message: "model delete: m\n\nbody", Files: []string{"aima.yaml", "models/m.yaml"}},
		{Hash: c2, Message: "service update: x", Files: []string{"services/x.yaml"}},
		{Hash: c1, Message: "service create: x", Files: []string{"models/m.yaml", "services/x.yaml"}},
	}
	for _, tc := range []struct {
		path string
		n    int
		want []CommitInfo
	}{
		{"", 0, all},
		{"", 2, all[:2]},
		{"services/x.yaml", 0, []CommitInfo{
			{Hash: c2, Message: "service update: x", Files: []string{"services/x.yaml"}},
			{Hash: c1, Message: "service create: x", Files: []string{"services/x.yaml"}},
		}},
		{"models/", 0, []CommitInfo{
			{Hash: c3, Message: "model delete: m\n\nbody", Files: []string{"models/m.yaml"}},
			{Hash: c1, Message: "service create: x", Files: []string{"models/m.yaml"}},
		}},
		{"models", 1, []CommitInfo{
			{Hash: c3, Message: "model delete: m\n\nbody", Files: []string{"models/m.yaml"}},
		}},
		{"engines/", 0, nil},
	} {
		got, err := r.Log(tc.path, tc.n)
		if err != nil {
			t.Fatalf("Log(%q, %d): %v", tc.path, tc.n, err)
		}
		if diff := cmp.Diff(tc.want, strip(got)); diff != "" {
			t.Errorf("Log(%q, %d) (-want +got):\n%s", tc.path, tc.n, diff)
		}
	}
}

func TestBlobHashMatchesGit(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "hello\n", strings.Repeat("x", 10000)} {
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte(content), 0o644)
		if want := strings.TrimSpace(gitCmd(t, dir, "hash-object", p)); BlobHash([]byte(content)) != want {
			t.Errorf("BlobHash(%d bytes) = %s, want %s", len(content), BlobHash([]byte(content)), want)
		}
	}
}

func TestResetIndex(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "models/a.yaml", "a\n"), put(t, dir, "models/b.yaml", "b\n"), put(t, dir, "z.yaml", "z\n"))
	if err := os.Remove(filepath.Join(dir, ".git", "index")); err != nil {
		t.Fatal(err)
	}
	if out := gitCmd(t, dir, "status", "--porcelain"); out == "" {
		t.Fatal("status is clean without an index; the test proves nothing")
	}
	if err := r.ResetIndex(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, dir)

	// A file changed on disk but not committed (a crash between write and
	// commit) must show as modified after a reset, not be hidden by its
	// fresh stat data.
	put(t, dir, "models/b.yaml", "b2\n")
	if err := r.ResetIndex(); err != nil {
		t.Fatal(err)
	}
	if got := gitCmd(t, dir, "status", "--porcelain"); got != " M models/b.yaml\n" {
		t.Errorf("status after reset with a modified file = %q", got)
	}
	// The next commit of that file cleans up.
	commit(t, r, "b2", Change{Path: "models/b.yaml", Data: []byte("b2\n")})
	checkClean(t, dir)
}

func TestCommitWithoutIndexBuildsOne(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "models/a.yaml", "a\n"), put(t, dir, "models/b.yaml", "b\n"))
	os.Remove(filepath.Join(dir, ".git", "index"))
	commit(t, r, "two", put(t, dir, "services/s.yaml", "s\n"))
	checkClean(t, dir)
}

func TestCommitAfterExternalCommit(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "aima one", put(t, dir, "models/a.yaml", "a\n"))
	// Warm the cache, then let git commit behind the Repo's back.
	if _, err := r.Tree(""); err != nil {
		t.Fatal(err)
	}
	put(t, dir, "models/ext.yaml", "ext\n")
	put(t, dir, "models/a.yaml", "a changed by git\n")
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "external")
	ext := strings.TrimSpace(gitCmd(t, dir, "rev-parse", "HEAD"))

	h := commit(t, r, "aima two", put(t, dir, "services/s.yaml", "s\n"))
	if parent := strings.TrimSpace(gitCmd(t, dir, "rev-parse", h+"^")); parent != ext {
		t.Errorf("parent of aima's commit = %s, want the external commit %s", parent, ext)
	}
	if got := gitCmd(t, dir, "log", "--format=%s"); got != "aima two\nexternal\naima one\n" {
		t.Errorf("history = %q", got)
	}
	tree, err := r.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"models/a.yaml":   BlobHash([]byte("a changed by git\n")),
		"models/ext.yaml": BlobHash([]byte("ext\n")),
		"services/s.yaml": BlobHash([]byte("s\n")),
	}
	if diff := cmp.Diff(want, tree); diff != "" {
		t.Errorf("Tree (-want +got):\n%s", diff)
	}
	checkClean(t, dir)

	// After git gc packs everything and drops the loose objects, the
	// long-lived Repo still reads and commits.
	gitCmd(t, dir, "gc", "-q", "--prune=now")
	if b, err := r.Read("HEAD~2", "models/a.yaml"); err != nil || string(b) != "a\n" {
		t.Errorf("Read after gc = %q, %v", b, err)
	}
	commit(t, r, "aima three", put(t, dir, "models/ext.yaml", "ext2\n"))
	checkClean(t, dir)
}

func TestIndexVersion4(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "models/a.yaml", "a\n"))
	gitCmd(t, dir, "update-index", "--index-version", "4")
	commit(t, r, "two", put(t, dir, "models/b.yaml", "b\n"), del(t, dir, "models/a.yaml"))
	checkClean(t, dir)
}

func TestStaleLockIsRemoved(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "a.yaml", "a\n"))
	for _, name := range []string{"index.lock", "refs/heads/main.lock"} {
		p := filepath.Join(dir, ".git", name)
		os.WriteFile(p, nil, 0o644)
		old := time.Now().Add(-time.Minute)
		os.Chtimes(p, old, old)
	}
	commit(t, r, "two", put(t, dir, "b.yaml", "b\n"))
	checkClean(t, dir)
}

func TestCommitRefusesBadPaths(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	for _, p := range []string{"", "/abs", "a/../b", "./a", "a//b", ".git/config", "a/.GIT/x", "a/"} {
		if _, err := r.Commit([]Change{{Path: p, Data: []byte("x")}}, "bad", testAuthor, testWhen); err == nil {
			t.Errorf("Commit(%q) succeeded", p)
		}
	}
}

func TestTypeChangeDirToFile(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "x/y.yaml", "y\n"))
	os.Remove(filepath.Join(dir, "x", "y.yaml"))
	os.Remove(filepath.Join(dir, "x"))
	commit(t, r, "two", Change{Path: "x/y.yaml", Delete: true}, put(t, dir, "x", "now a file\n"))
	checkClean(t, dir)
}

func TestTypeChangeFileToDir(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "x", "file\n"))
	os.Remove(filepath.Join(dir, "x"))
	commit(t, r, "two", Change{Path: "x", Delete: true}, put(t, dir, "x/y.yaml", "y\n"))
	checkClean(t, dir)
}

func TestRefReplacedNotRewritten(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "one", put(t, dir, "a.yaml", "a\n"))
	ref := filepath.Join(dir, ".git", "refs", "heads", "main")
	before, err := os.Stat(ref)
	if err != nil {
		t.Fatal(err)
	}
	h := commit(t, r, "two", put(t, dir, "a.yaml", "b\n"))
	after, err := os.Stat(ref)
	if err != nil {
		t.Fatal(err)
	}
	// A new file renamed into place, never the old one truncated and
	// rewritten: a kill -9 can leave only the old or the new ref.
	if os.SameFile(before, after) {
		t.Error("refs/heads/main was rewritten in place")
	}
	if b, _ := os.ReadFile(ref); string(b) != h+"\n" {
		t.Errorf("ref content = %q, want %q", b, h+"\n")
	}
	if got := gitCmd(t, dir, "reflog", "--format=%gs"); got != "commit: two\ncommit (initial): one\n" {
		t.Errorf("reflog = %q", got)
	}
}

func TestLogWithMerge(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	commit(t, r, "A", put(t, dir, "a.yaml", "a\n"))
	gitCmd(t, dir, "checkout", "-q", "-b", "side")
	put(t, dir, "s.yaml", "s\n")
	gitCmd(t, dir, "add", "s.yaml")
	gitCmd(t, dir, "commit", "-q", "-m", "S")
	gitCmd(t, dir, "checkout", "-q", "main")
	commit(t, r, "B", put(t, dir, "b.yaml", "b\n"))
	gitCmd(t, dir, "merge", "-q", "--no-edit", "-m", "M", "side")
	checkClean(t, dir)

	subjects := func(path string) map[string][]string {
		t.Helper()
		cs, err := r.Log(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, c := range cs {
			m[c.Message] = c.Files
		}
		return m
	}
	if diff := cmp.Diff(map[string][]string{"M": {"s.yaml"}, "S": {"s.yaml"}, "B": {"b.yaml"}, "A": {"a.yaml"}}, subjects("")); diff != "" {
		t.Errorf("Log(\"\") (-want +got):\n%s", diff)
	}
	// The merge takes each file unchanged from one parent, so a
	// path-limited log leaves it out, as git log does.
	if diff := cmp.Diff(map[string][]string{"S": {"s.yaml"}}, subjects("s.yaml")); diff != "" {
		t.Errorf("Log(s.yaml) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"B": {"b.yaml"}}, subjects("b.yaml")); diff != "" {
		t.Errorf("Log(b.yaml) (-want +got):\n%s", diff)
	}
	side := strings.TrimSpace(gitCmd(t, dir, "rev-parse", "side"))
	if got, err := r.Resolve("side"); err != nil || got != side {
		t.Errorf("Resolve(side) = %s, %v; want %s", got, err, side)
	}
	if got, err := r.Resolve("HEAD^2"); err != nil || got != side {
		t.Errorf("Resolve(HEAD^2) = %s, %v; want %s", got, err, side)
	}
	// Committing on top of the merge keeps both lines of history.
	commit(t, r, "C", put(t, dir, "c.yaml", "c\n"))
	if n := strings.Count(gitCmd(t, dir, "log", "--format=%H"), "\n"); n != 5 {
		t.Errorf("%d commits in history, want 5", n)
	}
	checkClean(t, dir)
}

func TestLargeDirectory(t *testing.T) {
	dir := t.TempDir()
	r, _ := Open(dir)
	// Enough files that the models tree is stored uncompressed (> 64 KB).
	var changes []Change
	for i := range 2000 {
		changes = append(changes, put(t, dir, fmt.Sprintf("models/m-%04d.yaml", i), fmt.Sprintf("n: %d\n", i)))
	}
	commit(t, r, "many", changes...)
	commit(t, r, "one more", put(t, dir, "models/bench-1.yaml", "b\n"), del(t, dir, "models/m-0007.yaml"))
	checkClean(t, dir)
	tree, err := r.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) != 2000 || tree["models/bench-1.yaml"] != BlobHash([]byte("b\n")) || tree["models/m-0007.yaml"] != "" {
		t.Errorf("Tree has %d files, bench-1 %q, m-0007 %q", len(tree), tree["models/bench-1.yaml"], tree["models/m-0007.yaml"])
	}
}
