package repo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Lock files follow git's protocol (create <file>.lock exclusively, write,
// rename over <file>), so git commands running at the same time see our
// updates as atomic and we see theirs.
const (
	// lockWait is how long we wait for another process's lock.
	lockWait = 2 * time.Second
	// staleLock is the age after which a lock file is taken to be left
	// behind by a killed process and is removed. Git holds its locks for
	// milliseconds, and aima for less; a longer-lived lock is abandoned.
	staleLock = 10 * time.Second
)

// lock is a held git lock file.
type lock struct {
	f    *os.File
	done bool // committed or rolled back: the lock file is no longer ours
}

// lockFile creates path+".lock" exclusively and returns it open for writing.
func lockFile(path string) (*lock, error) {
	name := path + ".lock"
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return &lock{f: f}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// A lock file that no process has open was left by a process that
		// died (kill -9 mid-commit): git and aima keep theirs open until
		// they rename it. Without /proc, fall back to its age.
		if fi, serr := os.Stat(name); serr == nil && (time.Since(fi.ModTime()) > staleLock || !heldOpen(name)) {
			os.Remove(name)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock %s: %s exists: another git process seems to be running", path, name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// commit writes the locked file's new content into the lock file and
// renames it over the file. With sync, the content reaches the disk before
// the rename, so the file is either its old or its new self after any
// crash, never torn or empty.
func (l *lock) commit(data []byte, sync bool) error {
	return l.commitStat(data, sync, nil)
}

// commitStat is commit that also fills st with the new file's stat data.
func (l *lock) commitStat(data []byte, sync bool, st *syscall.Stat_t) error {
	if l.done {
		return errors.New("lock already released")
	}
	l.done = true
	name := l.f.Name()
	_, err := l.f.Write(data)
	if err == nil && sync {
		err = l.f.Sync()
	}
	if err == nil && st != nil {
		err = syscall.Fstat(int(l.f.Fd()), st)
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, strings.TrimSuffix(name, ".lock"))
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// release gives the lock up without changing the locked file. After
// commit it does nothing: the lock file may by then be another process's.
func (l *lock) release() {
	if l == nil || l.done {
		return
	}
	l.done = true
	l.f.Close()
	os.Remove(l.f.Name())
}

// SetRef points the ref name (a full name, refs/remotes/origin/main) of
// the repository whose git directory is gitDir at rev, by git's lock
// protocol (write <ref>.lock, rename): a git command reading it meanwhile,
// or a crash, never finds it empty — go-git's own reference writer
// truncates the file in place. A packed copy of the ref is left alone: the
// loose file wins, as in git.
func SetRef(gitDir, name, rev string) error {
	if !plumbing.IsHash(rev) {
		return fmt.Errorf("set %s: %q is not a commit hash", name, rev)
	}
	path := filepath.Join(gitDir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	lk, err := lockFile(path)
	if err != nil {
		return err
	}
	return lk.commit([]byte(rev+"\n"), true)
}

// headRef returns the ref that HEAD points at ("refs/heads/main"), or
// "HEAD" when HEAD is detached.
func (r *Repo) headRef() (string, error) {
	b, err := os.ReadFile(filepath.Join(r.gitDir, "HEAD"))
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if name, ok := strings.CutPrefix(s, "ref: "); ok {
		return name, nil
	}
	return "HEAD", nil
}

// readRef returns the commit a ref (loose or packed) points at, following
// symbolic refs; the zero hash when the ref does not exist.
func (r *Repo) readRef(name string) (plumbing.Hash, error) {
	for range 5 {
		b, err := os.ReadFile(filepath.Join(r.gitDir, filepath.FromSlash(name)))
		if errors.Is(err, os.ErrNotExist) {
			return r.readPackedRef(name)
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read ref %s: %w", name, err)
		}
		s := strings.TrimSpace(string(b))
		if target, ok := strings.CutPrefix(s, "ref: "); ok {
			name = target
			continue
		}
		if !plumbing.IsHash(s) {
			return plumbing.ZeroHash, fmt.Errorf("read ref %s: malformed content %q", name, s)
		}
		return plumbing.NewHash(s), nil
	}
	return plumbing.ZeroHash, fmt.Errorf("read ref %s: too many symbolic refs", name)
}

func (r *Repo) readPackedRef(name string) (plumbing.Hash, error) {
	f, err := os.Open(filepath.Join(r.gitDir, "packed-refs"))
	if errors.Is(err, os.ErrNotExist) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read packed-refs: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ref, ok := strings.Cut(line, " "); ok && ref == name && plumbing.IsHash(h) {
			return plumbing.NewHash(h), nil
		}
	}
	if err := sc.Err(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read packed-refs: %w", err)
	}
	return plumbing.ZeroHash, nil
}

// Head returns the hash of the commit HEAD points at, or ErrNoCommits.
func (r *Repo) Head() (string, error) {
	h, err := r.head()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r *Repo) head() (plumbing.Hash, error) {
	name, err := r.headRef()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := r.readRef(name)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if h.IsZero() {
		return h, ErrNoCommits
	}
	return h, nil
}

// appendReflog records a ref update the way git does, so `git reflog` can
// find every commit aima made. It is best effort: the ref has moved already.
func (r *Repo) appendReflog(name string, old, new plumbing.Hash, ident, msg string) {
	line := fmt.Sprintf("%s %s %s\t%s\n", old, new, ident, msg)
	names := []string{name}
	if name != "HEAD" {
		names = append(names, "HEAD")
	}
	for _, n := range names {
		path := filepath.Join(r.gitDir, "logs", filepath.FromSlash(n))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if errors.Is(err, os.ErrNotExist) {
			if os.MkdirAll(filepath.Dir(path), 0o755) != nil {
				continue
			}
			f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		}
		if err != nil {
			continue
		}
		f.WriteString(line)
		f.Close()
	}
}

// commitTree returns the root tree of commit c.
// The caller must hold r.mu.
func (r *Repo) commitTree(c plumbing.Hash) (plumbing.Hash, error) {
	if c == r.lastHead && !c.IsZero() {
		return r.lastTree, nil
	}
	b, err := r.readObject(c, plumbing.CommitObject)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	hx, ok := bytes.CutPrefix(line, []byte("tree "))
	if !ok || !plumbing.IsHash(string(hx)) {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: malformed tree line", c)
	}
	t := plumbing.NewHash(string(hx))
	r.lastHead, r.lastTree = c, t
	return t, nil
}

// heldOpen reports whether any process has the file open, by scanning
// /proc/*/fd. Where /proc cannot tell, it answers true (assume held).
func heldOpen(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return true
	}
	fds, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil || len(fds) == 0 {
		return true
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == abs {
			return true
		}
	}
	return false
}
