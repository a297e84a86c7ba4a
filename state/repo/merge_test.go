package repo

import (
	"errors"
	"strings"
	"testing"
)

// TestCommitMergeAndFastForward builds a side branch with the git CLI,
// merges it with CommitMerge (even when the trees agree), then fast-forwards
// a second work tree and checks what git sees.
func TestCommitMergeAndFastForward(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := commit(t, r, "base", put(t, dir, "a.yaml", "a: 1\n"))
	gitCmd(t, dir, "branch", "side")
	ours := commit(t, r, "ours", put(t, dir, "b.yaml", "b: 1\n"))
	// The other side: a commit on "side" made by git, not checked out.
	side := t.TempDir()
	gitCmd(t, side, "clone", "-q", "-b", "side", dir, ".")
	put(t, side, "c.yaml", "c: 1\n")
	gitCmd(t, side, "add", "c.yaml")
	gitCmd(t, side, "commit", "-q", "-m", "theirs")
	gitCmd(t, dir, "fetch", "-q", side, "side:side")
	theirs := strings.TrimSpace(gitCmd(t, dir, "rev-parse", "side"))

	if mb, err := r.MergeBase(ours, theirs); err != nil || mb != base {
		t.Fatalf("MergeBase = %s, %v; want %s", mb, err, base)
	}
	m, err := r.CommitMerge([]Change{put(t, dir, "c.yaml", "c: 1\n")}, theirs, "merge side", testAuthor, testWhen)
	if err != nil {
		t.Fatal(err)
	}
	if got := gitCmd(t, dir, "rev-list", "--parents", "-n", "1", "HEAD"); got != m+" "+ours+" "+theirs+"\n" {
		t.Errorf("merge parents: %q", got)
	}
	checkClean(t, dir)
	// Merging it again changes no file but is still recorded.
	if _, err := r.CommitMerge(nil, theirs, "again", testAuthor, testWhen); err != nil {
		t.Fatalf("CommitMerge without changes: %v", err)
	}
	checkClean(t, dir)

	// A second repository at base fast-forwards to the merge.
	other := t.TempDir()
	gitCmd(t, other, "clone", "-q", dir, ".")
	gitCmd(t, other, "reset", "-q", "--hard", base)
	r2, err := Open(other)
	if err != nil {
		t.Fatal(err)
	}
	changes := []Change{put(t, other, "b.yaml", "b: 1\n"), put(t, other, "c.yaml", "c: 1\n")}
	if err := r2.FastForward(ours, m, changes, "test"); !errors.Is(err, ErrMoved) {
		t.Errorf("FastForward from a commit the branch is not at: %v, want ErrMoved", err)
	}
	if err := r2.FastForward(base, m, changes, "test"); err != nil {
		t.Fatal(err)
	}
	if h, _ := r2.Head(); h != m {
		t.Errorf("HEAD = %s, want %s", h, m)
	}
	checkClean(t, other)
}
