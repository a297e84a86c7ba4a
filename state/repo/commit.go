package repo

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Commit records changes, whose files the caller has already written to
// (or removed from) the work tree, as a new commit on the branch HEAD points
// at, and returns the commit's hash. It writes the blobs, rewrites only the
// trees on the changed paths, moves the branch atomically, and updates the
// index so that `git status` stays clean. A directory whose last file is
// deleted disappears from the tree.
//
// If the changes leave the tree as it is, Commit makes no commit and returns
// ErrNoChange. If the commit is made but the index cannot be updated, Commit
// returns the hash together with the error; ResetIndex repairs the index.
func (r *Repo) Commit(changes []Change, msg string, author Signature, when time.Time) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.commit(changes, msg, author, when, plumbing.ZeroHash)
	if err != nil && !errors.Is(err, ErrNoChange) {
		what := msg
		if s, _, ok := strings.Cut(msg, "\n"); ok {
			what = s
		}
		return h, fmt.Errorf("commit %q: %w", what, err)
	}
	return h, err
}

// pending is one file of a commit, located in the change tree.
type pending struct {
	del  bool
	mode uint32
	hash plumbing.Hash
}

// changeDir is one directory of a commit's changes.
type changeDir struct {
	files map[string]*pending
	dirs  map[string]*changeDir
}

func (d *changeDir) add(path string, p *pending) {
	for {
		dir, rest, ok := strings.Cut(path, "/")
		if !ok {
			if d.files == nil {
				d.files = make(map[string]*pending)
			}
			d.files[path] = p
			return
		}
		if d.dirs == nil {
			d.dirs = make(map[string]*changeDir)
		}
		sub := d.dirs[dir]
		if sub == nil {
			sub = &changeDir{}
			d.dirs[dir] = sub
		}
		d, path = sub, rest
	}
}

// checkPath refuses paths that are not clean, relative, slash-separated
// paths inside the work tree.
func checkPath(p string) error {
	if p == "" || strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return fmt.Errorf("invalid path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "", part == ".", part == "..":
			return fmt.Errorf("invalid path %q", p)
		case strings.EqualFold(part, ".git"):
			return fmt.Errorf("invalid path %q: inside .git", p)
		}
	}
	return nil
}

// commit is Commit; a non-zero merge is the second parent of a merge
// commit (see CommitMerge), which is made even when the tree is unchanged.
func (r *Repo) commit(changes []Change, msg string, author Signature, when time.Time, merge plumbing.Hash) (string, error) {
	if len(changes) == 0 && merge.IsZero() {
		return "", ErrNoChange
	}
	// The last change of a path wins; the index wants them in byte order.
	byPath := make(map[string]*Change, len(changes))
	for i := range changes {
		c := &changes[i]
		if err := checkPath(c.Path); err != nil {
			return "", err
		}
		byPath[c.Path] = c
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	// Hash and store the blobs, and take the files' stat data, before
	// locking anything.
	root := &changeDir{}
	idxChanges := make([]indexChange, len(paths))
	for i, p := range paths {
		c := byPath[p]
		idxChanges[i].path = p
		if c.Delete {
			root.add(p, &pending{del: true})
			continue
		}
		mode, st, err := r.statChanged(p, c.Data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		obj := append(objectHeader(plumbing.BlobObject, len(c.Data)), c.Data...)
		h, err := r.writeObject(obj)
		if err != nil {
			return "", err
		}
		root.add(p, &pending{mode: mode, hash: h})
		idxChanges[i].entry = &indexEntry{path: p, mode: mode, hash: h, stat: st}
	}

	// Lock the index, then the branch, as git commit does; read the branch
	// under its lock, so a commit made by anyone else since our last one is
	// our parent rather than lost.
	idxLock, err := lockFile(filepath.Join(r.gitDir, "index"))
	if err != nil {
		return "", err
	}
	defer idxLock.release() // no-op once committed
	refName, err := r.headRef()
	if err != nil {
		return "", err
	}
	refLock, err := lockFile(filepath.Join(r.gitDir, filepath.FromSlash(refName)))
	if err != nil {
		return "", err
	}
	defer refLock.release()
	parent, err := r.readRef(refName)
	if err != nil {
		return "", err
	}
	base := plumbing.ZeroHash
	if !parent.IsZero() {
		if base, err = r.commitTree(parent); err != nil {
			return "", err
		}
	}

	newRoot, empty, err := r.applyDir(base, root, "")
	if err != nil {
		return "", err
	}
	if empty {
		if parent.IsZero() {
			return "", r.noChange(idxLock, idxChanges, base)
		}
		t := &tree{}
		if newRoot, err = r.writeObject(t.encode()); err != nil {
			return "", err
		}
	}
	if newRoot == base && merge.IsZero() {
		return "", r.noChange(idxLock, idxChanges, base)
	}

	ident := identity(author, when)
	obj := encodeCommit(newRoot, parent, merge, ident, msg)
	c, err := r.writeObject(obj)
	if err != nil {
		return "", err
	}
	if err := r.syncObjects(); err != nil {
		return "", err
	}
	if err := refLock.commit([]byte(c.String()+"\n"), true); err != nil {
		return "", fmt.Errorf("update %s: %w", refName, err)
	}
	r.lastHead, r.lastTree = c, newRoot
	subject, _, _ := strings.Cut(msg, "\n")
	switch {
	case parent.IsZero():
		r.appendReflog(refName, parent, c, ident, "commit (initial): "+subject)
	case !merge.IsZero():
		r.appendReflog(refName, parent, c, ident, "commit (merge): "+subject)
	default:
		r.appendReflog(refName, parent, c, ident, "commit: "+subject)
	}

	if err := r.updateIndex(idxLock, idxChanges, newRoot); err != nil {
		return c.String(), err
	}
	return c.String(), nil
}

// noChange refreshes the stat data of the changed files in the index (the
// caller rewrote them with the same content) and returns ErrNoChange.
func (r *Repo) noChange(idxLock *lock, changes []indexChange, root plumbing.Hash) error {
	if err := r.updateIndex(idxLock, changes, root); err != nil {
		return err
	}
	return ErrNoChange
}

// applyDir returns the hash of tree base with the changes of d applied,
// storing every tree it rewrites; empty reports that nothing is left.
// The caller must hold r.mu.
func (r *Repo) applyDir(base plumbing.Hash, d *changeDir, prefix string) (h plumbing.Hash, empty bool, err error) {
	var old []entry
	if !base.IsZero() {
		t, err := r.tree(base)
		if err != nil {
			return h, false, err
		}
		old = t.entries
	}
	// Copy on write: cached trees are shared by hash.
	entries := make([]entry, len(old), len(old)+len(d.files)+len(d.dirs))
	copy(entries, old)
	// Deletions first, then directories, then files: a path can turn
	// from a file into a directory or back within one commit.
	for name, p := range d.files {
		if i, ok := find(entries, name, false); ok && p.del {
			entries = slices.Delete(entries, i, i+1)
		}
	}
	for name, sub := range d.dirs {
		i, ok := find(entries, name, true)
		subBase := plumbing.ZeroHash
		if ok {
			subBase = entries[i].hash
		}
		sh, subEmpty, err := r.applyDir(subBase, sub, prefix+name+"/")
		if err != nil {
			return h, false, err
		}
		switch {
		case subEmpty && ok:
			entries = slices.Delete(entries, i, i+1)
		case subEmpty:
		case ok:
			entries[i].hash = sh
		default:
			if _, isFile := find(entries, name, false); isFile {
				return h, false, fmt.Errorf("%s%s: is a file in the tree", prefix, name)
			}
			entries = slices.Insert(entries, i, entry{name: name, mode: modeDir, hash: sh})
		}
	}
	for name, p := range d.files {
		if p.del {
			continue
		}
		i, ok := find(entries, name, false)
		switch {
		case ok:
			entries[i].mode, entries[i].hash = p.mode, p.hash
		default:
			if _, isDir := find(entries, name, true); isDir {
				return h, false, fmt.Errorf("%s%s: is a directory in the tree", prefix, name)
			}
			entries = slices.Insert(entries, i, entry{name: name, mode: p.mode, hash: p.hash})
		}
	}
	if len(entries) == 0 {
		return h, true, nil
	}
	t := &tree{entries: entries}
	if h, err = r.writeObject(t.encode()); err != nil {
		return h, false, err
	}
	if h != base {
		if old, ok := r.trees[base]; ok { // replaced; usually not needed again
			delete(r.trees, base)
			r.cachedEntries -= len(old.entries)
		}
		r.cacheTree(h, t)
	}
	return h, false, nil
}

// identity formats a signature as git's author and committer lines do.
func identity(s Signature, when time.Time) string {
	clean := func(v string) string {
		return strings.TrimSpace(strings.Map(func(c rune) rune {
			if c == '<' || c == '>' || c == '\n' || c == 0 {
				return -1
			}
			return c
		}, v))
	}
	name, email := clean(s.Name), clean(s.Email)
	if name == "" {
		name = "aima"
	}
	return fmt.Sprintf("%s <%s> %d %s", name, email, when.Unix(), when.Format("-0700"))
}

func encodeCommit(root, parent, merge plumbing.Hash, ident, msg string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\n", root)
	if !parent.IsZero() {
		fmt.Fprintf(&b, "parent %s\n", parent)
	}
	if !merge.IsZero() {
		fmt.Fprintf(&b, "parent %s\n", merge)
	}
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n%s", ident, ident, msg)
	if !strings.HasSuffix(msg, "\n") {
		b.WriteByte('\n')
	}
	body := b.String()
	return append(objectHeader(plumbing.CommitObject, len(body)), body...)
}
