package repo

import (
	"container/heap"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUnknownRevision: a revision names no commit.
var ErrUnknownRevision = errors.New("unknown revision")

// Resolve returns the full hash of the commit rev names: a full or short
// hash, a branch or tag, HEAD, or any of these followed by ~N or ^N ("" is
// HEAD). It returns ErrNoCommits for HEAD of an empty repository and an
// error wrapping ErrUnknownRevision for a name that matches nothing.
func (r *Repo) Resolve(rev string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.resolve(rev)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// resolve is Resolve for a caller holding r.mu.
func (r *Repo) resolve(rev string) (plumbing.Hash, error) {
	if rev == "" || rev == "HEAD" {
		h, err := r.head()
		if err != nil && !errors.Is(err, ErrNoCommits) {
			return h, fmt.Errorf("resolve HEAD: %w", err)
		}
		return h, err
	}
	h, err := r.git.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		// Another process may have packed objects since we last looked.
		r.st.Reindex()
		h, err = r.git.ResolveRevision(plumbing.Revision(rev))
	}
	if err != nil {
		if _, herr := r.head(); errors.Is(herr, ErrNoCommits) {
			return plumbing.ZeroHash, fmt.Errorf("resolve %q: %w", rev, ErrNoCommits)
		}
		return plumbing.ZeroHash, fmt.Errorf("resolve %q: %w (%v)", rev, ErrUnknownRevision, err)
	}
	return *h, nil
}

// revTree returns the root tree of the commit rev names.
func (r *Repo) revTree(rev string) (plumbing.Hash, error) {
	c, err := r.resolve(rev)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return r.commitTree(c)
}

// Tree returns every file at rev ("" is HEAD) as a map from its path to
// its blob's hash.
func (r *Repo) Tree(rev string) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	root, err := r.revTree(rev)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", rev, err)
	}
	files := make(map[string]string)
	err = r.walkTree(root, "", func(path string, _ uint32, h plumbing.Hash) {
		files[path] = h.String()
	})
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", rev, err)
	}
	return files, nil
}

// walkTree calls fn for every non-directory entry below tree h.
// The caller must hold r.mu.
func (r *Repo) walkTree(h plumbing.Hash, prefix string, fn func(path string, mode uint32, h plumbing.Hash)) error {
	t, err := r.tree(h)
	if err != nil {
		return err
	}
	for _, e := range t.entries {
		if e.isDir() {
			if err := r.walkTree(e.hash, prefix+e.name+"/", fn); err != nil {
				return err
			}
			continue
		}
		fn(prefix+e.name, e.mode, e.hash)
	}
	return nil
}

// Read returns the content of the file path at rev ("" is HEAD). If rev has
// no such file, the error wraps os.ErrNotExist.
func (r *Repo) Read(rev, path string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	root, err := r.revTree(rev)
	if errors.Is(err, ErrNoCommits) {
		return nil, fmt.Errorf("read %s: %w (%w)", path, os.ErrNotExist, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	h, parts := root, strings.Split(path, "/")
	for i, name := range parts {
		t, err := r.tree(h)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		last := i == len(parts)-1
		j, ok := find(t.entries, name, !last)
		if !ok {
			return nil, fmt.Errorf("read %s at %s: %w", path, revName(rev), os.ErrNotExist)
		}
		h = t.entries[j].hash
	}
	b, err := r.readObject(h, plumbing.BlobObject)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, revName(rev), err)
	}
	return b, nil
}

func revName(rev string) string {
	if rev == "" {
		return "HEAD"
	}
	return rev
}

// Log returns up to n commits (n <= 0: all) reachable from HEAD, newest
// first, that change path: "" for every commit, a file path, or a
// directory (with or without a trailing "/"). Each commit's Files are the
// paths it changes relative to its first parent, limited to path as
// `git log --name-only -- path` limits them. Like git, a path-limited log
// leaves out a merge that takes path unchanged from one of its parents, and
// follows only that parent.
func (r *Repo) Log(path string, n int) ([]CommitInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.head()
	if errors.Is(err, ErrNoCommits) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	f := filter(strings.TrimSuffix(path, "/"))
	var out []CommitInfo
	q := &commitQueue{}
	seen := map[plumbing.Hash]bool{head: true}
	push := func(h plumbing.Hash) error {
		if seen[h] {
			return nil
		}
		seen[h] = true
		c, err := r.commitObject(h)
		if err != nil {
			return err
		}
		heap.Push(q, c)
		return nil
	}
	c, err := r.commitObject(head)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	heap.Push(q, c)
	for q.Len() > 0 && (n <= 0 || len(out) < n) {
		c := heap.Pop(q).(*object.Commit)
		parents := c.ParentHashes
		show := true
		var files []string
		firstParentTree := plumbing.ZeroHash
		if len(parents) > 0 {
			if firstParentTree, err = r.commitTree(parents[0]); err != nil {
				return nil, fmt.Errorf("log: %w", err)
			}
		}
		if files, err = r.diff(firstParentTree, c.TreeHash, "", f); err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		if f != "" {
			show = len(files) > 0
			if len(parents) > 1 {
				for _, p := range parents {
					pt, err := r.commitTree(p)
					if err != nil {
						return nil, fmt.Errorf("log: %w", err)
					}
					d, err := r.diff(pt, c.TreeHash, "", f)
					if err != nil {
						return nil, fmt.Errorf("log: %w", err)
					}
					if len(d) == 0 {
						show, parents = false, []plumbing.Hash{p}
						break
					}
				}
			}
		}
		if show {
			out = append(out, CommitInfo{
				Hash:    c.Hash.String(),
				Author:  c.Author.Name,
				Email:   c.Author.Email,
				When:    c.Author.When,
				Message: strings.TrimRight(c.Message, "\n"),
				Files:   files,
			})
		}
		for _, p := range parents {
			if err := push(p); err != nil {
				return nil, fmt.Errorf("log: %w", err)
			}
		}
	}
	return out, nil
}

func (r *Repo) commitObject(h plumbing.Hash) (*object.Commit, error) {
	c, err := object.GetCommit(r.st, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		r.st.Reindex()
		c, err = object.GetCommit(r.st, h)
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// commitQueue orders commits newest first by committer time, as git log
// does by default.
type commitQueue []*object.Commit

func (q commitQueue) Len() int           { return len(q) }
func (q commitQueue) Less(i, j int) bool { return q[i].Committer.When.After(q[j].Committer.When) }
func (q commitQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)        { *q = append(*q, x.(*object.Commit)) }
func (q *commitQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

// filter limits a diff to a file or directory path ("" is everything).
type filter string

func (f filter) file(p string) bool {
	return f == "" || p == string(f) || strings.HasPrefix(p, string(f)+"/")
}

func (f filter) dir(d string) bool {
	return f == "" || d == string(f) || strings.HasPrefix(d, string(f)+"/") || strings.HasPrefix(string(f), d+"/")
}

// diff returns the paths of the files that differ between trees a and b
// (either may be zero: empty), in tree order, limited by f. Subtrees with
// equal hashes are skipped unread. The caller must hold r.mu.
func (r *Repo) diff(a, b plumbing.Hash, prefix string, f filter) ([]string, error) {
	var out []string
	err := r.diffInto(a, b, prefix, f, &out)
	return out, err
}

func (r *Repo) diffInto(a, b plumbing.Hash, prefix string, f filter, out *[]string) error {
	if a == b {
		return nil
	}
	var ea, eb []entry
	for _, x := range []struct {
		h  plumbing.Hash
		es *[]entry
	}{{a, &ea}, {b, &eb}} {
		if x.h.IsZero() {
			continue
		}
		t, err := r.tree(x.h)
		if err != nil {
			return err
		}
		*x.es = t.entries
	}
	// one handles an entry present on one side only.
	one := func(e entry) error {
		p := prefix + e.name
		if e.isDir() {
			if !f.dir(p) {
				return nil
			}
			// Added or removed whole: every file below it changed.
			return r.diffInto(plumbing.ZeroHash, e.hash, p+"/", f, out)
		}
		if f.file(p) {
			*out = append(*out, p)
		}
		return nil
	}
	i, j := 0, 0
	for i < len(ea) || j < len(eb) {
		var c int
		switch {
		case i == len(ea):
			c = 1
		case j == len(eb):
			c = -1
		default:
			c = treeCmp(ea[i].name, ea[i].isDir(), eb[j].name, eb[j].isDir())
		}
		switch {
		case c < 0:
			if err := one(ea[i]); err != nil {
				return err
			}
			i++
		case c > 0:
			if err := one(eb[j]); err != nil {
				return err
			}
			j++
		default:
			x, y := ea[i], eb[j]
			i, j = i+1, j+1
			if x.hash == y.hash && x.mode == y.mode {
				continue
			}
			p := prefix + x.name
			if x.isDir() {
				if f.dir(p) {
					if err := r.diffInto(x.hash, y.hash, p+"/", f, out); err != nil {
						return err
					}
				}
			} else if f.file(p) {
				*out = append(*out, p)
			}
		}
	}
	return nil
}
