package repo

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSetRefNeverEmpty: a reader of a ref that SetRef keeps moving (git
// fsck while a follower fetches) always finds a whole hash, never an
// empty or torn file, as go-git's in-place writer would leave.
func TestSetRefNeverEmpty(t *testing.T) {
	gitDir := t.TempDir()
	const name = "refs/remotes/origin/main"
	revs := []string{strings.Repeat("a", 40), strings.Repeat("b", 40)}
	if err := SetRef(gitDir, name, revs[0]); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	bad := make(chan string, 1)
	go func() {
		for !stop.Load() {
			b, err := os.ReadFile(filepath.Join(gitDir, name))
			if got := strings.TrimSpace(string(b)); err != nil || (got != revs[0] && got != revs[1]) {
				select {
				case bad <- got:
				default:
				}
			}
		}
	}()
	for i := range 300 {
		if err := SetRef(gitDir, name, revs[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	select {
	case got := <-bad:
		t.Fatalf("a reader found %q in the ref", got)
	default:
	}
	if err := SetRef(gitDir, name, "nope"); err == nil {
		t.Error("a ref set to something that is not a hash")
	}
}
