package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"github.com/aima-dev/aima/state/repo"
)

// Rollback restores the state directory — or one object file, when path is
// not empty — to how it was at rev, as a new commit ("rollback: ..."):
// history is never rewritten. Every restored file is validated first; an
// invalid one aborts the rollback with nothing written.
func (s *Store) Rollback(rev, path string) (paths []string, err error) {
	err = s.write(func() ([]repo.Change, string, error) {
		r, err := s.gitRepo()
		if err != nil {
			return nil, "", err
		}
		full, err := r.Resolve(rev)
		if err != nil {
			return nil, "", fmt.Errorf("%w: revision %q: %v", ErrNotFound, rev, err)
		}
		then, err := r.Tree(full)
		if err != nil {
			return nil, "", err
		}
		now, err := r.Tree("")
		if err != nil {
			return nil, "", err
		}
		var candidates []string
		if path != "" {
			candidates = []string{path}
		} else {
			seen := map[string]bool{}
			for p := range then {
				seen[p] = true
			}
			for p := range now {
				seen[p] = true
			}
			for p := range seen {
				if _, _, ok := KindOfPath(p); ok || p == "aima.yaml" {
					candidates = append(candidates, p)
				}
			}
			sort.Strings(candidates)
		}
		var changes []repo.Change
		for _, p := range candidates {
			if then[p] == now[p] {
				// Still compare with the work tree: an uncommitted edit is undone too.
				if b, err := os.ReadFile(s.path(p)); err == nil && repo.BlobHash(b) == then[p] {
					continue
				} else if errors.Is(err, fs.ErrNotExist) && then[p] == "" {
					continue
				}
			}
			if then[p] == "" {
				changes = append(changes, repo.Change{Path: p, Delete: true})
				continue
			}
			b, err := r.Read(full, p)
			if err != nil {
				return nil, "", err
			}
			if k, _, ok := KindOfPath(p); ok {
				if _, err := s.Decode(k, p, b); err != nil {
					return nil, "", fmt.Errorf("%s at %.12s is not valid today: %w", p, full, err)
				}
			}
			changes = append(changes, repo.Change{Path: p, Data: b})
		}
		for _, c := range changes {
			paths = append(paths, c.Path)
		}
		msg := fmt.Sprintf("rollback: to %.12s", full)
		if path != "" {
			msg = fmt.Sprintf("rollback: %s to %.12s", path, full)
		}
		return changes, msg, nil
	})
	return paths, err
}
