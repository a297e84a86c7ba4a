package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aima-dev/aima/state/repo"
)

// RepoMarkerPath records that the state directory has had a git repository.
//
// A state directory whose .git disappeared (deleted by hand, a partial copy
// or restore, a disk cleaner) must not silently get a new, empty repository:
// the history would be gone, the next commit would not descend from what
// was pushed, and nobody would be told. A directory that never had a
// repository, though, is initialised on first use: the demo .aima/ of this
// project is committed as plain files, and so is a directory written by
// hand or copied without its .git. The two are told apart by this marker:
// it is written under .local/ (never committed, never pulled, not copied
// by a clone) when aima creates the repository or first opens an existing
// one, so state directories made before the marker existed get it too.
// With the marker and no .git, every write and `aima start` are refused
// with ErrNoRepository, saying how to recover.
const RepoMarkerPath = ".local/repository"

// ErrNoRepository: the state directory had a git repository and its .git
// is gone.
var ErrNoRepository = errors.New("the git repository is missing")

const repoMarkerText = "# aima: this state directory has a git repository (.git). If .git disappears,\n" +
	"# aima refuses to start a new, empty history here; remove this file to allow it.\n"

// repoMissing returns an error wrapping ErrNoRepository when .git is gone
// but the directory had a repository: the marker says so, or this store
// had it open.
func (s *Store) repoMissing() error {
	if _, err := os.Lstat(filepath.Join(s.Dir, ".git")); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Lstat(s.path(RepoMarkerPath)); err != nil && s.repo == nil {
		return nil // never had one: it is created on first use
	}
	return fmt.Errorf("%w: %s is gone, but this directory had one (%s says so); aima does not start a new, empty history on its own. "+
		"Restore .git (from a backup or a copy), or clone the shared repository with `aima init --from URL` into an empty directory, "+
		"or, to start a new history here from the files as they are, remove %s and run aima init",
		ErrNoRepository, filepath.Join(s.Dir, ".git"), RepoMarkerPath, filepath.Join(s.Dir, filepath.FromSlash(RepoMarkerPath)))
}

// markRepository writes the marker if it is missing. It is best effort: a
// directory aima cannot write to is only read.
func (s *Store) markRepository() {
	p := s.path(RepoMarkerPath)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		_ = WriteFile(p, []byte(repoMarkerText))
	}
}

// newRepo is gitRepo for `aima init --from`, which is asked for a new
// repository: a marker left from a lost one does not stand in its way.
func (s *Store) newRepo() (*repo.Repo, error) {
	os.Remove(s.path(RepoMarkerPath))
	return s.gitRepo()
}
