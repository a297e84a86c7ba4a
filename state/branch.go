package state

import (
	"fmt"
)

// MergeBranch brings local branch name (a proposal such as
// agent/<conversation>) into HEAD as one merge commit whose message is msg
// (with the store's trailers), as a pull does (see integrate): every file
// the branch brings is validated, a file changed differently on the branch
// and here since they parted is a ConflictError (nothing applied), and the
// files are written before the branch moves. A branch HEAD already
// contains changes nothing (PullResult.Outcome is PullUpToDate or
// PullAhead).
func (s *Store) MergeBranch(name, msg string) (PullResult, error) {
	r, err := s.gitRepo()
	if err != nil {
		return PullResult{Source: name}, err
	}
	rev, err := r.Branch(name)
	if err != nil {
		return PullResult{Source: name}, err
	}
	if rev == "" {
		return PullResult{Source: name}, fmt.Errorf("branch %s: %w", name, ErrNotFound)
	}
	return s.integrate(rev, name, nil, PullOptions{merge: s.withTrailers(msg)})
}
