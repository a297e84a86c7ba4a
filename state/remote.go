package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aima-dev/aima/state/repo/remote"
)

// The Store's git remotes: adding and listing them, fetching, pushing and
// cloning (InitFrom). Moving commits is package remote's; what a fetched
// revision does to the state is Pull's (pull.go).

// DefaultRemote is the remote that push, pull and follow use when none is named.
const DefaultRemote = "origin"

// Remote is a git remote of the state repository.
type Remote = remote.Remote

// AddRemote configures a git remote (in .git/config, never committed).
func (s *Store) AddRemote(name, rawURL string) error {
	if !remote.ValidName(name) {
		return fmt.Errorf("%w: remote name %q: use letters, digits, '-', '_' or '.' (for example origin)", ErrInvalid, name)
	}
	if !remote.ValidURL(rawURL) {
		return FieldError("url", "%q is not a git URL (file://, http(s)://, ssh:// or user@host:path)", rawURL)
	}
	if _, err := s.gitRepo(); err != nil { // creates the repository when missing
		return err
	}
	return fromRemote(remote.Add(s.Dir, name, rawURL))
}

// Remotes lists the configured remotes, sorted by name. URLs are shown
// with any password in them redacted.
func (s *Store) Remotes() ([]Remote, error) {
	return remote.List(s.Dir)
}

// incomingRef is where Fetch puts what it downloaded from branch of
// remote name: refs/aima/incoming/<name>/<branch>, a ref that is never pushed.
func incomingRef(name, branch string) string {
	return "refs/aima/incoming/" + name + "/" + branch
}

// Fetch downloads branch of remote name ("" for each: origin, and the
// branch HEAD points at) into refs/aima/incoming/<remote>/<branch> and
// returns the commit it is at. It changes neither the files, HEAD nor the
// remote-tracking branch refs/remotes/<remote>/<branch>: that one moves
// only when a revision is accepted (see Pull), so a refused revision is
// never taken as the remote's known history.
func (s *Store) Fetch(ctx context.Context, name, branch string) (string, error) {
	if name == "" {
		name = DefaultRemote
	}
	if branch == "" {
		branch = remote.HeadBranch(s.Dir)
	}
	rev, err := remote.Fetch(ctx, s.Dir, name, branch, incomingRef(name, branch))
	return rev, fromRemote(err)
}

// PushResult is what Push did.
type PushResult struct {
	Remote   string `json:"remote"`
	Branch   string `json:"branch"`
	Revision string `json:"revision"`
	UpToDate bool   `json:"up_to_date"`
}

// Push sends the current branch to branch of remote name ("" for each:
// origin, and the same branch name). A remote with commits that this state
// lacks is refused with ErrConflict: pull first.
func (s *Store) Push(ctx context.Context, name, branch string) (PushResult, error) {
	if name == "" {
		name = DefaultRemote
	}
	local := remote.HeadBranch(s.Dir)
	if branch == "" {
		branch = local
	}
	res := PushResult{Remote: name, Branch: branch}
	var err error
	res.Revision, res.UpToDate, err = remote.Push(ctx, s.Dir, name, local, branch)
	return res, fromRemote(err)
}

// InitFrom creates the state directory from a remote repository, as
// `aima init --from URL` does: the remote becomes origin, branch (""
// for the remote's default branch) is fetched, validated like a pull and
// checked out. This machine gets its own instance id in .local/instance,
// so machines that follow one repository never manage each other's
// containers. An empty remote yields a fresh state directory with origin
// set, ready for aima push.
func (s *Store) InitFrom(ctx context.Context, rawURL, branch string) (PullResult, error) {
	if s.Initialized() {
		return PullResult{}, fmt.Errorf("%s: %w: it is a state directory already (use aima remote add and aima pull)", s.Dir, ErrExists)
	}
	des, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return PullResult{}, err
	}
	for _, de := range des {
		if de.Name() != ".local" {
			return PullResult{}, fmt.Errorf("%s: %w: the directory is not empty (holds %s)", s.Dir, ErrExists, de.Name())
		}
	}
	created := errors.Is(err, fs.ErrNotExist)
	// Ask the remote for its branches before creating anything.
	def, empty, err := remote.DefaultBranch(ctx, rawURL)
	if err != nil {
		return PullResult{}, fromRemote(err)
	}
	if !empty && branch == "" {
		if branch = def; branch == "" {
			empty = true
		}
	}
	cleanup := func() {
		if created {
			os.RemoveAll(s.Dir)
		} else {
			os.RemoveAll(filepath.Join(s.Dir, ".git"))
			os.Remove(s.path(localInstancePath))
			os.Remove(s.path(RepoMarkerPath)) // no repository was made here
		}
	}
	if err := ensureDir(s.Dir); err != nil {
		return PullResult{}, err
	}
	if _, err := s.newRepo(); err != nil { // asked for: a lost one's marker is no obstacle
		cleanup()
		return PullResult{}, err
	}
	if err := s.setUpClone(rawURL, branch); err != nil {
		cleanup()
		return PullResult{}, err
	}
	if empty {
		if _, err := s.Init(); err != nil {
			cleanup()
			return PullResult{}, err
		}
		h, _ := s.repo.Head()
		return PullResult{Source: DefaultRemote, Head: h, Outcome: PullUpToDate}, nil
	}
	rev, err := s.Fetch(ctx, DefaultRemote, branch)
	if err != nil {
		cleanup()
		return PullResult{}, err
	}
	res, err := s.integrate(rev, DefaultRemote+"/"+branch, &tracking{DefaultRemote, branch}, PullOptions{})
	if err != nil {
		cleanup()
		return res, err
	}
	return res, nil
}

// setUpClone configures a new repository to track rawURL: origin, HEAD on
// branch with its upstream set (remote.Configure), .local/ excluded even
// when the remote has no .gitignore, and a fresh instance id.
func (s *Store) setUpClone(rawURL, branch string) error {
	if err := remote.Configure(s.Dir, DefaultRemote, rawURL, branch); err != nil {
		return err
	}
	exclude := filepath.Join(s.Dir, ".git", "info", "exclude")
	if err := os.MkdirAll(filepath.Dir(exclude), 0o755); err != nil {
		return err
	}
	old, _ := os.ReadFile(exclude)
	if err := os.WriteFile(exclude, append(old, []byte("# aima: this machine's own state\n.local/\n")...), 0o644); err != nil {
		return err
	}
	return WriteFile(s.path(localInstancePath), []byte(newInstanceID()+"\n"))
}

// remoteKinds maps the kinds of package remote's errors onto this package's
// vocabulary (see Code).
var remoteKinds = map[remote.Kind]error{
	remote.Invalid:     ErrInvalid,
	remote.NotFound:    ErrNotFound,
	remote.Exists:      ErrExists,
	remote.Rejected:    ErrConflict,
	remote.Unavailable: ErrUnavailable,
}

// fromRemote gives an error of package remote the kind of this package it
// stands for, keeping its message: errors.Is(err, ErrNotFound) holds for a
// remote that is not configured, as for a file that is not there.
func fromRemote(err error) error {
	if kind := remoteKinds[remote.KindOf(err)]; kind != nil {
		return &kindError{err: err, kind: kind}
	}
	return err
}

// kindError is err, also matching kind.
type kindError struct{ err, kind error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }
