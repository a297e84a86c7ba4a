package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// benchRepo returns a repository holding n files under models/, made in one
// commit, so that the benchmark's commits land in a 10,000-entry tree in
// the largest case (the worst layout: one directory holds everything).
func benchRepo(b *testing.B, n int) (string, *Repo) {
	b.Helper()
	dir := b.TempDir()
	r, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		b.Fatal(err)
	}
	changes := make([]Change, n)
	for i := range changes {
		path := fmt.Sprintf("models/model-%05d.yaml", i)
		data := fmt.Appendf(nil, "name: model-%05d\nsource: hf://org/model-%d\nformat: gguf\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, path), data, 0o644); err != nil {
			b.Fatal(err)
		}
		changes[i] = Change{Path: path, Data: data}
	}
	if _, err := r.Commit(changes, "setup", testAuthor, time.Now()); err != nil {
		b.Fatal(err)
	}
	return dir, r
}

func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			dir, r := benchRepo(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				path := fmt.Sprintf("models/bench-%d.yaml", i)
				data := fmt.Appendf(nil, "name: bench-%d\n", i)
				if err := os.WriteFile(filepath.Join(dir, path), data, 0o644); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Commit([]Change{{Path: path, Data: data}}, "model create: bench", testAuthor, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The same work through go-git's worktree, for comparison.
	b.Run("go-git/files=10000", func(b *testing.B) {
		dir, _ := benchRepo(b, 10000)
		g, err := git.PlainOpen(dir)
		if err != nil {
			b.Fatal(err)
		}
		wt, err := g.Worktree()
		if err != nil {
			b.Fatal(err)
		}
		sig := &object.Signature{Name: testAuthor.Name, Email: testAuthor.Email}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			path := fmt.Sprintf("models/bench-%d.yaml", i)
			data := fmt.Appendf(nil, "name: bench-%d\n", i)
			if err := os.WriteFile(filepath.Join(dir, path), data, 0o644); err != nil {
				b.Fatal(err)
			}
			if _, err := wt.Add(path); err != nil {
				b.Fatal(err)
			}
			sig.When = time.Now()
			if _, err := wt.Commit("model create: bench", &git.CommitOptions{Author: sig}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
