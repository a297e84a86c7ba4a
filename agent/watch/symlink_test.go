package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSymlinkedDirectoryIsNotFollowed: a link in the state directory is
// reported as one path (so the agent can report it invalid), and what
// happens in its target, outside the state directory, is never watched,
// whether the link was there at start or made later.
func TestSymlinkedDirectoryIsNotFollowed(t *testing.T) {
	dir := newStateDir(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "apps")); err != nil {
		t.Fatal(err)
	}
	calls := start(t, dir, Options{Debounce: 20 * time.Millisecond}, nil)

	if err := os.Symlink(outside, filepath.Join(dir, "engines")); err != nil {
		t.Fatal(err)
	}
	got := collect(t, calls, "engines")
	os.WriteFile(filepath.Join(outside, "evil.yaml"), []byte("image: evil\n"), 0o644)
	writeFile(t, dir, "services/after.yaml") // a change inside: everything before it was delivered
	got = append(got, collect(t, calls, "services/after.yaml")...)
	for _, p := range union(got) {
		if p != "engines" && p != "services/after.yaml" {
			t.Errorf("reported %q (all: %q)", p, union(got))
		}
	}
}
