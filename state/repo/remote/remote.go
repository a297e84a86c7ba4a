// Package remote is the network side of a state repository: remote names
// and URLs, credentials from the environment, fetching a branch into a ref,
// pushing a branch, listing a remote's branches, and the remote-tracking
// branches that record what was last taken from or sent to a remote.
//
// It moves commits and refs and nothing else: it never writes a work-tree
// file, never moves HEAD's branch, and does not decide whether a fetched
// revision is applied (state.Store.Pull does, with package merge). It
// must not import package state, which imports it; its errors carry a Kind
// that state maps onto its own error vocabulary.
package remote

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/aima-dev/aima/state/repo"
)

// Kind is what went wrong with a remote, for callers to branch on.
type Kind int

// Kinds of Error. Their String is the word state's error of the same kind
// prints, so a mapped message reads the same.
const (
	Other       Kind = iota
	Invalid          // a bad remote name or URL
	NotFound         // no such remote, repository or branch, or an empty repository
	Exists           // a remote of that name is configured already
	Rejected         // a push the remote refuses: it has commits the pushed branch lacks
	Unavailable      // the remote cannot be reached, refuses the credentials, or the wait ran out
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not found"
	case Exists:
		return "already exists"
	case Rejected:
		return "conflict"
	case Unavailable:
		return "unavailable"
	}
	return "error"
}

// Error is a failed operation on a remote. Err never holds a password:
// messages from the transport are redacted before they are kept.
type Error struct {
	Op   string // what was done, with the remote: "fetch origin/main", "push https://host/x.git"
	Kind Kind
	Err  error // the detail; nil when Kind says it all
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Op + ": " + e.Kind.String()
	}
	return e.Op + ": " + e.Kind.String() + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is the Kind of the first *Error in err's chain, Other when there
// is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Other
}

func newError(op string, kind Kind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Remote is a configured remote of a repository.
type Remote struct {
	Name string `json:"name"`
	URL  string `json:"url"` // with any password redacted (List)
}

// ValidName reports whether name can name a remote: not empty, no
// whitespace, slash, colon or glob character, no leading '-' and no "..".
func ValidName(name string) bool {
	return name != "" && !strings.ContainsAny(name, " \t\n/\\:*?[]^~\"") && !strings.HasPrefix(name, "-") && !strings.Contains(name, "..")
}

// ValidURL reports whether rawURL is a git URL go-git can reach: file://,
// http(s)://, ssh:// or scp-like user@host:path.
func ValidURL(rawURL string) bool {
	if strings.TrimSpace(rawURL) == "" {
		return false
	}
	_, err := transport.NewEndpoint(rawURL)
	return err == nil
}

// Redact hides the password of a URL ("https://u:xxxxx@host/...").
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	return u.Redacted()
}

// open opens the git repository whose work tree is dir.
func open(dir string) (*git.Repository, error) {
	g, err := git.PlainOpen(dir)
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", dir, err)
	}
	st, ok := g.Storer.(*filesystem.Storage)
	if !ok {
		return g, nil
	}
	wt, err := g.Worktree()
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", dir, err)
	}
	return git.Open(atomicRefs{st}, wt.Filesystem)
}

// atomicRefs is the repository's storage with reference updates made by
// git's lock protocol (repo.SetRef) instead of go-git's, which truncates
// the file in place: a fetch or push writing a ref while `git fsck` reads
// it, or killed mid-write, never leaves it empty.
type atomicRefs struct{ *filesystem.Storage }

func (s atomicRefs) SetReference(r *plumbing.Reference) error {
	if r.Type() != plumbing.HashReference {
		return s.Storage.SetReference(r)
	}
	return repo.SetRef(s.Filesystem().Root(), r.Name().String(), r.Hash().String())
}

func (s atomicRefs) CheckAndSetReference(r, old *plumbing.Reference) error {
	if r.Type() != plumbing.HashReference {
		return s.Storage.CheckAndSetReference(r, old)
	}
	if old != nil {
		cur, err := s.Storage.Reference(old.Name())
		if err == nil && cur.Hash() != old.Hash() {
			return storage.ErrReferenceHasChanged
		}
	}
	return s.SetReference(r)
}

// Add configures remote name with rawURL in dir's repository (in
// .git/config, never committed). The caller checks name and URL
// (ValidName, ValidURL); a name in use is an Error of kind Exists.
func Add(dir, name, rawURL string) error {
	g, err := open(dir)
	if err != nil {
		return err
	}
	_, err = g.CreateRemote(&config.RemoteConfig{Name: name, URLs: []string{rawURL}})
	if errors.Is(err, git.ErrRemoteExists) {
		return &Error{Op: fmt.Sprintf("remote %q", name), Kind: Exists}
	}
	if err != nil {
		return fmt.Errorf("add remote %q: %w", name, err)
	}
	return nil
}

// List returns the remotes of dir's repository sorted by name, with any
// password in their URLs redacted; none when dir has no repository.
func List(dir string) ([]Remote, error) {
	g, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", dir, err)
	}
	rms, err := g.Remotes()
	if err != nil {
		return nil, fmt.Errorf("list remotes: %w", err)
	}
	var out []Remote
	for _, rm := range rms {
		c := rm.Config()
		u := ""
		if len(c.URLs) > 0 {
			u = Redact(c.URLs[0])
		}
		out = append(out, Remote{Name: c.Name, URL: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HeadBranch is the branch HEAD of dir's repository points at ("main");
// repo.DefaultBranch when HEAD is detached or there is no repository.
func HeadBranch(dir string) string {
	g, err := git.PlainOpen(dir)
	if err != nil {
		return repo.DefaultBranch
	}
	return headBranch(g)
}

func headBranch(g *git.Repository) string {
	ref, err := g.Storer.Reference(plumbing.HEAD)
	if err == nil && ref.Type() == plumbing.SymbolicReference && ref.Target().IsBranch() {
		return ref.Target().Short()
	}
	return repo.DefaultBranch
}

// Configure sets up a new repository at dir to follow rawURL as git clone
// does: remote name, and HEAD on branch (when not "") with its upstream set
// to name's branch, so plain git pull works in it too.
func Configure(dir, name, rawURL, branch string) error {
	g, err := open(dir)
	if err != nil {
		return err
	}
	if _, err := g.CreateRemote(&config.RemoteConfig{Name: name, URLs: []string{rawURL}}); err != nil {
		return fmt.Errorf("add remote: %w", err)
	}
	if branch == "" {
		return nil
	}
	if err := g.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))); err != nil {
		return err
	}
	return g.CreateBranch(&config.Branch{Name: branch, Remote: name, Merge: plumbing.NewBranchReferenceName(branch)})
}

// Tracked is the commit of the remote-tracking branch
// refs/remotes/<name>/<branch> of dir's repository, "" when there is none.
func Tracked(dir, name, branch string) (string, error) {
	g, err := open(dir)
	if err != nil {
		return "", err
	}
	track := plumbing.NewRemoteReferenceName(name, branch)
	ref, err := g.Reference(track, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", track, err)
	}
	return ref.Hash().String(), nil
}

// Track moves the remote-tracking branch refs/remotes/<name>/<branch> of
// dir's repository to commit rev.
func Track(dir, name, branch, rev string) error {
	g, err := open(dir)
	if err != nil {
		return err
	}
	return setTracking(g, name, branch, rev)
}

// setTracking moves refs/remotes/<name>/<branch> (atomically: see
// atomicRefs).
func setTracking(g *git.Repository, name, branch, rev string) error {
	track := plumbing.NewRemoteReferenceName(name, branch)
	if err := g.Storer.SetReference(plumbing.NewHashReference(track, plumbing.NewHash(rev))); err != nil {
		return fmt.Errorf("update %s: %w", track, err)
	}
	return nil
}
