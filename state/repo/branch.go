package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Branches other than HEAD's hold work that is not applied: the operator's
// proposals (refs/heads/agent/<conversation>). Committing on one writes
// objects and moves its ref only: the work tree and the index are HEAD's.

// branchRef is the ref of a branch name ("agent/x": refs/heads/agent/x).
func branchRef(name string) (string, error) {
	if err := checkPath(name); err != nil || strings.ContainsAny(name, " ~^:?*[") || strings.HasSuffix(name, ".lock") {
		return "", fmt.Errorf("invalid branch name %q", name)
	}
	return "refs/heads/" + name, nil
}

// Branch returns the commit branch name points at, "" when there is no
// such branch.
func (r *Repo) Branch(name string) (string, error) {
	ref, err := branchRef(name)
	if err != nil {
		return "", err
	}
	h, err := r.readRef(ref)
	if err != nil || h.IsZero() {
		return "", err
	}
	return h.String(), nil
}

// CommitOn records changes as a new commit on branch name whose parent is
// parent, which must be the branch's commit (or, for a branch that does not
// exist yet, the commit it starts from); it returns ErrMoved when the
// branch is elsewhere. Neither the work tree nor the index is touched.
// Changes that leave parent's tree as it is make no commit (ErrNoChange).
func (r *Repo) CommitOn(name, parent string, changes []Change, msg string, author Signature, when time.Time) (string, error) {
	ref, err := branchRef(name)
	if err != nil {
		return "", err
	}
	if !plumbing.IsHash(parent) {
		return "", fmt.Errorf("commit on %s: parent %q is not a commit hash", name, parent)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	root := &changeDir{}
	for _, c := range changes {
		if err := checkPath(c.Path); err != nil {
			return "", err
		}
		if c.Delete {
			root.add(c.Path, &pending{del: true})
			continue
		}
		h, err := r.writeObject(append(objectHeader(plumbing.BlobObject, len(c.Data)), c.Data...))
		if err != nil {
			return "", err
		}
		root.add(c.Path, &pending{mode: modeFile, hash: h})
	}
	path := filepath.Join(r.gitDir, filepath.FromSlash(ref))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	refLock, err := lockFile(path)
	if err != nil {
		return "", err
	}
	defer refLock.release()
	cur, err := r.readRef(ref)
	if err != nil {
		return "", err
	}
	p := plumbing.NewHash(parent)
	if !cur.IsZero() && cur != p {
		return "", fmt.Errorf("commit on %s: %w: it is at %.12s, not %.12s", name, ErrMoved, cur, p)
	}
	base, err := r.commitTree(p)
	if err != nil {
		return "", err
	}
	newRoot, empty, err := r.applyDir(base, root, "")
	if err != nil {
		return "", err
	}
	if empty {
		if newRoot, err = r.writeObject((&tree{}).encode()); err != nil {
			return "", err
		}
	}
	if newRoot == base {
		return "", ErrNoChange
	}
	ident := identity(author, when)
	c, err := r.writeObject(encodeCommit(newRoot, p, plumbing.ZeroHash, ident, msg))
	if err != nil {
		return "", err
	}
	if err := r.syncObjects(); err != nil {
		return "", err
	}
	if err := refLock.commit([]byte(c.String()+"\n"), true); err != nil {
		return "", fmt.Errorf("update %s: %w", ref, err)
	}
	subject, _, _ := strings.Cut(msg, "\n")
	r.appendBranchLog(ref, cur, c, ident, "commit: "+subject)
	return c.String(), nil
}

// appendBranchLog is appendReflog for a branch HEAD does not point at.
func (r *Repo) appendBranchLog(ref string, old, new plumbing.Hash, ident, msg string) {
	path := filepath.Join(r.gitDir, "logs", filepath.FromSlash(ref))
	if os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s %s\t%s\n", old, new, ident, msg)
}

// DeleteBranch removes branch name (nothing when there is none). It must
// not be HEAD's branch.
func (r *Repo) DeleteBranch(name string) error {
	ref, err := branchRef(name)
	if err != nil {
		return err
	}
	if head, err := r.headRef(); err == nil && head == ref {
		return fmt.Errorf("delete branch %s: it is the checked-out branch", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	path := filepath.Join(r.gitDir, filepath.FromSlash(ref))
	if h, _ := r.readPackedRef(ref); !h.IsZero() {
		return fmt.Errorf("delete branch %s: it is in packed-refs (git branch -D %s)", name, name)
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	lk, err := lockFile(path)
	if err != nil {
		return err
	}
	defer lk.release()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.Remove(filepath.Join(r.gitDir, "logs", filepath.FromSlash(ref)))
	return nil
}

// Patch is the unified diff (git diff's format) from commit a to commit b.
func (r *Repo) Patch(a, b string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ca, cb, err := r.commitPair(a, b)
	if err != nil {
		return "", err
	}
	p, err := ca.Patch(cb)
	if err != nil {
		return "", fmt.Errorf("diff %.12s..%.12s: %w", a, b, err)
	}
	return p.String(), nil
}
