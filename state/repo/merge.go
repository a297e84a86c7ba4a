package repo

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrMoved: the branch is no longer at the commit the caller started from
// (someone committed meanwhile), so it was not moved.
var ErrMoved = errors.New("branch moved")

// CommitMerge is Commit for a merge: the new commit's parents are HEAD and
// other (a commit already in the object store, such as a fetched one), and
// changes are the files taken from other, already written to the work tree.
// Unlike Commit it commits even when changes leave the tree as it is (both
// sides made the same edits), because the commit records that other's
// history is included.
func (r *Repo) CommitMerge(changes []Change, other, msg string, author Signature, when time.Time) (string, error) {
	if !plumbing.IsHash(other) {
		return "", fmt.Errorf("merge %q: not a commit hash", other)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.commit(changes, msg, author, when, plumbing.NewHash(other))
	if err != nil {
		return h, fmt.Errorf("merge %.12s: %w", other, err)
	}
	return h, nil
}

// FastForward moves the branch HEAD points at from old ("" when it has no
// commit yet) to to, a commit already in the object store whose files the
// caller has already written to the work tree; changes are the paths that
// differ between old and to (Data as in to, or Delete). It updates the
// index like Commit does. If the branch is not at old any more, it moves
// nothing and returns an error wrapping ErrMoved.
func (r *Repo) FastForward(old, to string, changes []Change, reason string) error {
	if !plumbing.IsHash(to) || (old != "" && !plumbing.IsHash(old)) {
		return fmt.Errorf("fast-forward %q to %q: not a commit hash", old, to)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	newCommit := plumbing.NewHash(to)
	newRoot, err := r.commitTree(newCommit)
	if err != nil {
		return fmt.Errorf("fast-forward to %.12s: %w", to, err)
	}
	idxChanges := make([]indexChange, 0, len(changes))
	for _, c := range changes {
		if err := checkPath(c.Path); err != nil {
			return err
		}
		ic := indexChange{path: c.Path}
		if !c.Delete {
			mode, st, err := r.statChanged(c.Path, c.Data)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Path, err)
			}
			ic.entry = &indexEntry{path: c.Path, mode: mode, hash: plumbing.NewHash(BlobHash(c.Data)), stat: st}
		}
		idxChanges = append(idxChanges, ic)
	}
	slices.SortFunc(idxChanges, func(a, b indexChange) int {
		switch {
		case a.path < b.path:
			return -1
		case a.path > b.path:
			return 1
		}
		return 0
	})
	idxChanges = slices.CompactFunc(idxChanges, func(a, b indexChange) bool { return a.path == b.path })

	idxLock, err := lockFile(filepath.Join(r.gitDir, "index"))
	if err != nil {
		return err
	}
	defer idxLock.release()
	refName, err := r.headRef()
	if err != nil {
		return err
	}
	refLock, err := lockFile(filepath.Join(r.gitDir, filepath.FromSlash(refName)))
	if err != nil {
		return err
	}
	defer refLock.release()
	cur, err := r.readRef(refName)
	if err != nil {
		return err
	}
	want := plumbing.ZeroHash
	if old != "" {
		want = plumbing.NewHash(old)
	}
	if cur != want {
		return fmt.Errorf("fast-forward %s to %.12s: %w: it is at %.12s, not %.12s", refName, to, ErrMoved, cur, want)
	}
	if err := refLock.commit([]byte(newCommit.String()+"\n"), true); err != nil {
		return fmt.Errorf("update %s: %w", refName, err)
	}
	r.lastHead, r.lastTree = newCommit, newRoot
	r.appendReflog(refName, cur, newCommit, identity(Signature{Name: "aima", Email: "aima@localhost"}, time.Now()), "fast-forward: "+reason)
	if cur.IsZero() {
		// No index worth splicing: write it whole from the new tree.
		r.index = nil
		return r.rebuildIndex(idxLock, newRoot)
	}
	return r.updateIndex(idxLock, idxChanges, newRoot)
}

// MergeBase returns the best common ancestor of commits a and b, or "" when
// they share no history.
func (r *Repo) MergeBase(a, b string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ca, cb, err := r.commitPair(a, b)
	if err != nil {
		return "", err
	}
	bases, err := ca.MergeBase(cb)
	if err != nil {
		return "", fmt.Errorf("merge base of %.12s and %.12s: %w", a, b, err)
	}
	if len(bases) == 0 {
		return "", nil
	}
	return bases[0].Hash.String(), nil
}

// commitPair reads commits a and b. The caller must hold r.mu.
func (r *Repo) commitPair(a, b string) (*object.Commit, *object.Commit, error) {
	ca, err := r.commitObject(plumbing.NewHash(a))
	if err != nil {
		return nil, nil, err
	}
	cb, err := r.commitObject(plumbing.NewHash(b))
	if err != nil {
		return nil, nil, err
	}
	return ca, cb, nil
}

// Files returns every file of commit rev ("" is HEAD) with its mode, as
// Tree does with hashes; modes let a caller refuse what it cannot write
// (symbolic links, submodules).
func (r *Repo) Files(rev string) (map[string]File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	root, err := r.revTree(rev)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", rev, err)
	}
	files := make(map[string]File)
	err = r.walkTree(root, "", func(path string, mode uint32, h plumbing.Hash) {
		files[path] = File{Hash: h.String(), Regular: mode == modeFile}
	})
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", rev, err)
	}
	return files, nil
}

// File is one file of a commit's tree.
type File struct {
	Hash    string
	Regular bool // a plain, non-executable file (mode 100644)
}
