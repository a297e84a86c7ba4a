// Package repo is the git repository behind a state directory. It commits
// files that the caller has already written atomically to the work tree,
// building each new tree from the previous commit plus the changed paths, so
// the cost of a commit does not grow with the number of files. It keeps the
// index in step so that `git status` is clean after every commit.
//
// It does not validate, lock, or decide what to write: state.Store does.
// Callers hold the state directory's write lock around Commit.
package repo

import (
	"compress/zlib"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrNoCommits: the repository has no commit yet.
var ErrNoCommits = errors.New("repository has no commits")

// ErrNoChange: the changes given to Commit leave the tree as it is, so no
// commit was made.
var ErrNoChange = errors.New("nothing to commit")

// DefaultBranch is the branch HEAD points at in a repository that Open
// initialises.
const DefaultBranch = "main"

// Repo is a git repository with a work tree. Its methods are safe for
// concurrent use; writers (Commit, ResetIndex) are serialised within the
// process, and git's own lock files (index.lock, <ref>.lock) keep them apart
// from other processes.
//
// A Repo caches the trees it has read or written, keyed by object hash, so a
// long-running agent rewrites only the trees on the paths it changes. The
// cache can never be stale: every Commit starts from the ref's value on
// disk, and a tree's content never changes for a given hash.
type Repo struct {
	dir    string // work tree
	gitDir string // dir/.git
	git    *git.Repository
	st     *filesystem.Storage

	mu            sync.Mutex
	trees         map[plumbing.Hash]*tree // cache of parsed trees
	cachedEntries int                     // entries in trees
	lastHead      plumbing.Hash           // commit last written or read by this Repo
	lastTree      plumbing.Hash           // lastHead's root tree
	zw            *zlib.Writer            // reused: a deflate state is large
	zwStore       *zlib.Writer            // for objects stored uncompressed
	index         *cachedIndex            // the index as this Repo last wrote it
	tmpSerial     uint64
	syncing       sync.WaitGroup // object fsyncs in flight (syncObject)
	syncSem       chan struct{}
	syncMu        sync.Mutex
	syncErr       error
}

// Open opens the git repository whose work tree is dir. If dir has no .git,
// Open creates dir if needed and initialises a repository whose HEAD points
// at refs/heads/main.
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	gitDir := filepath.Join(abs, git.GitDirName)
	var g *git.Repository
	switch _, err := os.Stat(gitDir); {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("init repository %s: %w", dir, err)
		}
		g, err = git.PlainInitWithOptions(abs, &git.PlainInitOptions{
			InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(DefaultBranch)},
		})
		if err != nil {
			return nil, fmt.Errorf("init repository %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	default:
		g, err = git.PlainOpen(abs)
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", dir, err)
		}
	}
	st, ok := g.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("open repository %s: unexpected storage %T", dir, g.Storer)
	}
	return &Repo{
		dir:    abs,
		gitDir: gitDir,
		git:    g,
		st:     st,
		trees:  make(map[plumbing.Hash]*tree),
	}, nil
}

// Dir returns the work tree's absolute path.
func (r *Repo) Dir() string { return r.dir }

// Signature names the author of a commit.
type Signature struct {
	Name  string
	Email string
}

// Change is one path (slash-separated, relative to the work tree) to record
// in the next commit. Data is the file's full content, which the caller has
// already written to the work tree; Delete records its removal.
type Change struct {
	Path   string
	Data   []byte
	Delete bool
}

// CommitInfo is one entry of the history.
type CommitInfo struct {
	Hash    string    `json:"hash"`
	Author  string    `json:"author"`
	Email   string    `json:"email"`
	When    time.Time `json:"when"`
	Message string    `json:"message"`
	Files   []string  `json:"files,omitempty"`
}
