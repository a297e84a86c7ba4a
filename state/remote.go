package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"gopkg.in/yaml.v3"

	"github.com/aima-dev/aima/state/repo"
)

// DefaultRemote is the remote that push, pull and follow use when none is named.
const DefaultRemote = "origin"

// Remote is a git remote of the state repository.
type Remote struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// AddRemote configures a git remote (in .git/config, never committed).
func (s *Store) AddRemote(name, rawURL string) error {
	if err := checkRemoteName(name); err != nil {
		return err
	}
	if _, err := transport.NewEndpoint(rawURL); err != nil || strings.TrimSpace(rawURL) == "" {
		return FieldError("url", "%q is not a git URL (file://, http(s)://, ssh:// or user@host:path)", rawURL)
	}
	if _, err := s.gitRepo(); err != nil { // creates the repository when missing
		return err
	}
	g, err := git.PlainOpen(s.Dir)
	if err != nil {
		return fmt.Errorf("open git repository %s: %w", s.Dir, err)
	}
	_, err = g.CreateRemote(&config.RemoteConfig{Name: name, URLs: []string{rawURL}})
	if errors.Is(err, git.ErrRemoteExists) {
		return fmt.Errorf("remote %q: %w", name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add remote %q: %w", name, err)
	}
	return nil
}

func checkRemoteName(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\n/\\:*?[]^~\"") || strings.HasPrefix(name, "-") || strings.Contains(name, "..") {
		return fmt.Errorf("%w: remote name %q: use letters, digits, '-', '_' or '.' (for example origin)", ErrInvalid, name)
	}
	return nil
}

// Remotes lists the configured remotes, sorted by name. URLs are shown
// with any password in them redacted.
func (s *Store) Remotes() ([]Remote, error) {
	g, err := git.PlainOpen(s.Dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", s.Dir, err)
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
			u = redact(c.URLs[0])
		}
		out = append(out, Remote{Name: c.Name, URL: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// redact hides the password of a URL ("https://u:xxxxx@host/...").
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// remote opens the named remote, with the credentials its URL needs.
func (s *Store) remote(name string) (*git.Repository, *git.Remote, transport.AuthMethod, error) {
	installTransports()
	if name == "" {
		name = DefaultRemote
	}
	g, err := git.PlainOpen(s.Dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open git repository %s: %w", s.Dir, err)
	}
	rm, err := g.Remote(name)
	if errors.Is(err, git.ErrRemoteNotFound) {
		return nil, nil, nil, fmt.Errorf("remote %q: %w (add it with: aima remote add %s URL)", name, ErrNotFound, name)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rm.Config().URLs) == 0 {
		return nil, nil, nil, fmt.Errorf("remote %q has no URL", name)
	}
	auth, err := Auth(rm.Config().URLs[0])
	if err != nil {
		return nil, nil, nil, err
	}
	return g, rm, auth, nil
}

var transportsOnce sync.Once

// installTransports makes file:// work without the git binary: go-git runs
// git-upload-pack/git-receive-pack for it when git is installed (which
// serves any repository layout) and otherwise needs its in-process server.
func installTransports() {
	transportsOnce.Do(func() {
		if _, err := exec.LookPath("git"); err != nil {
			client.InstallProtocol("file", server.DefaultServer)
		}
	})
}

// Auth chooses the credentials for a remote URL from the environment; they
// are never logged or written anywhere:
//
//   - http(s): AIMA_GIT_TOKEN (sent as the basic-auth password, with
//     AIMA_GIT_USERNAME or "git" as the user), or AIMA_GIT_USERNAME +
//     AIMA_GIT_PASSWORD; else credentials in the URL, else none.
//   - ssh: the key file AIMA_GIT_SSH_KEY (passphrase AIMA_GIT_SSH_PASSPHRASE),
//     else the SSH agent (SSH_AUTH_SOCK). Host keys are checked against
//     ~/.ssh/known_hosts.
func Auth(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: remote URL %q: %v", ErrInvalid, redact(rawURL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		user := os.Getenv("AIMA_GIT_USERNAME")
		if tok := os.Getenv("AIMA_GIT_TOKEN"); tok != "" {
			if user == "" {
				user = "git"
			}
			return &githttp.BasicAuth{Username: user, Password: tok}, nil
		}
		if pw := os.Getenv("AIMA_GIT_PASSWORD"); user != "" || pw != "" {
			return &githttp.BasicAuth{Username: user, Password: pw}, nil
		}
		return nil, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		if key := os.Getenv("AIMA_GIT_SSH_KEY"); key != "" {
			a, err := gitssh.NewPublicKeysFromFile(user, key, os.Getenv("AIMA_GIT_SSH_PASSPHRASE"))
			if err != nil {
				return nil, fmt.Errorf("ssh key AIMA_GIT_SSH_KEY: %w", err)
			}
			return a, nil
		}
		a, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, fmt.Errorf("%w: ssh %s: no SSH agent to authenticate with (start one and ssh-add a key, or set AIMA_GIT_SSH_KEY): %v", ErrUnavailable, ep.Host, err)
		}
		return a, nil
	}
	return nil, nil
}

// remoteError classifies a transport error and keeps passwords out of it.
func remoteError(op, rawURL string, err error) error {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	msg = strings.ReplaceAll(msg, rawURL, redact(rawURL))
	switch {
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s %s: %w: %s", op, redact(rawURL), ErrNotFound, msg)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: %w: %s", op, redact(rawURL), ErrUnavailable, msg)
	}
	return fmt.Errorf("%s %s: %w: %s", op, redact(rawURL), ErrUnavailable, msg)
}

// currentBranch is the branch HEAD points at ("main").
func currentBranch(g *git.Repository) string {
	ref, err := g.Storer.Reference(plumbing.HEAD)
	if err == nil && ref.Type() == plumbing.SymbolicReference && ref.Target().IsBranch() {
		return ref.Target().Short()
	}
	return repo.DefaultBranch
}

// incomingRef is where Fetch puts what it downloaded from branch of remote:
// refs/aima/incoming/<remote>/<branch>, a ref that is never pushed.
func incomingRef(remote, branch string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/aima/incoming/" + remote + "/" + branch)
}

// Fetch downloads branch of remote ("" for each: origin, and the branch
// HEAD points at) into refs/aima/incoming/<remote>/<branch> and returns the
// commit it is at. It changes neither the files, HEAD nor the
// remote-tracking branch refs/remotes/<remote>/<branch>: that one moves
// only when a revision is accepted (see Pull), so a refused revision is
// never taken as the remote's known history.
func (s *Store) Fetch(ctx context.Context, remote, branch string) (string, error) {
	g, rm, auth, err := s.remote(remote)
	if err != nil {
		return "", err
	}
	remote = rm.Config().Name
	if branch == "" {
		branch = currentBranch(g)
	}
	track := incomingRef(remote, branch)
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), track))
	err = rm.FetchContext(ctx, &git.FetchOptions{RemoteName: remote, RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags})
	rawURL := rm.Config().URLs[0]
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return "", fmt.Errorf("fetch %s/%s: %w: the remote repository is empty (aima push publishes this state)", remote, branch, ErrNotFound)
	case strings.Contains(err.Error(), "couldn't find remote ref"):
		return "", fmt.Errorf("fetch %s/%s: %w: the remote has no branch %q", remote, branch, ErrNotFound, branch)
	default:
		return "", remoteError("fetch", rawURL, err)
	}
	ref, err := g.Reference(track, true)
	if err != nil {
		return "", fmt.Errorf("fetch %s/%s: %w", remote, branch, err)
	}
	return ref.Hash().String(), nil
}

// PushResult is what Push did.
type PushResult struct {
	Remote   string `json:"remote"`
	Branch   string `json:"branch"`
	Revision string `json:"revision"`
	UpToDate bool   `json:"up_to_date"`
}

// Push sends the current branch to branch of remote ("" for each: origin,
// and the same branch name). A remote with commits that this state lacks
// is refused with ErrConflict: pull first.
func (s *Store) Push(ctx context.Context, remote, branch string) (PushResult, error) {
	g, rm, auth, err := s.remote(remote)
	if err != nil {
		return PushResult{}, err
	}
	remote = rm.Config().Name
	local := currentBranch(g)
	if branch == "" {
		branch = local
	}
	res := PushResult{Remote: remote, Branch: branch}
	head, err := g.Reference(plumbing.NewBranchReferenceName(local), true)
	if err != nil {
		return res, fmt.Errorf("push: branch %s has no commits: %w", local, ErrNotFound)
	}
	res.Revision = head.Hash().String()
	spec := config.RefSpec(fmt.Sprintf("%s:%s", plumbing.NewBranchReferenceName(local), plumbing.NewBranchReferenceName(branch)))
	// RemoteName must be the remote's own name: go-git refuses a push whose
	// options name another remote, and defaults them to origin.
	err = rm.PushContext(ctx, &git.PushOptions{RemoteName: remote, RefSpecs: []config.RefSpec{spec}, Auth: auth})
	switch {
	case err == nil:
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		res.UpToDate = true
	case strings.Contains(err.Error(), "non-fast-forward"), strings.Contains(err.Error(), "fetch first"), errors.Is(err, git.ErrForceNeeded):
		return res, fmt.Errorf("push %s/%s: %w: the remote has commits this state directory does not have; run aima pull %s %s first", remote, branch, ErrConflict, remote, branch)
	default:
		return res, remoteError("push", rm.Config().URLs[0], err)
	}
	// Record where the remote now is, as git push does.
	_ = g.Storer.SetReference(plumbing.NewHashReference(plumbing.NewRemoteReferenceName(remote, branch), head.Hash()))
	return res, nil
}

// Pull outcomes.
const (
	PullUpToDate    = "up to date"   // nothing new
	PullAhead       = "ahead"        // the remote's commits are all here already
	PullFastForward = "fast-forward" // HEAD moved to the remote's commit
	PullMerge       = "merge"        // a merge commit joins both sides
)

// PullResult is what Pull or Integrate did.
type PullResult struct {
	Source   string   `json:"source"`   // "origin/main"
	Incoming string   `json:"incoming"` // the remote's commit
	Before   string   `json:"before"`   // HEAD before
	Head     string   `json:"head"`     // HEAD after
	Outcome  string   `json:"outcome"`  // PullUpToDate, PullAhead, PullFastForward or PullMerge
	Paths    []string `json:"paths"`    // files changed in the work tree
	Kept     []string `json:"kept,omitempty"`
}

// PullOptions choose how conflicts are settled and what incoming history
// is trusted. aima pull and the agent's follower share them.
type PullOptions struct {
	// Resolve settles files changed differently on both sides: "" refuses
	// the pull (ConflictError), "ours" keeps the local file, "theirs" takes
	// the remote's. Either way both histories are kept in a merge commit.
	Resolve string
	// VerifySignatures applies an incoming revision only when its commit
	// (the remote branch's tip) carries an OpenPGP signature by a key in
	// .local/trusted-keys/ (TrustedKeyRing); an unsigned commit, or one
	// signed by another key, is a RefusedError. No trusted key is an error.
	VerifySignatures bool
	// AllowRewrite accepts a remote branch whose new tip does not contain
	// the tip accepted from it before (a force-push). By default that is a
	// RefusedError.
	AllowRewrite bool
}

// ConflictError: a file was changed differently here and in the remote.
// Nothing was applied; the local files and commits are as they were.
type ConflictError struct {
	Source string   // origin/main
	Local  string   // local HEAD
	Remote string   // the remote's commit
	Paths  []string // files changed on both sides
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict: %s changed both here (HEAD %.12s) and in %s (%.12s); nothing was applied and the local files are kept. "+
		"Settle it with aima pull --resolve ours|theirs, or make both sides agree and pull again",
		strings.Join(e.Paths, ", "), e.Local, e.Source, e.Remote)
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// RefusedError: the incoming revision holds invalid files (Problems), or
// is not trusted (Reason: unsigned, signed by an unknown key, rewritten
// history), so it was not applied and the state stays at its last good
// revision.
type RefusedError struct {
	Source   string
	Revision string
	Problems []Problem
	Reason   string
}

func (e *RefusedError) Error() string {
	why := e.Reason
	if why == "" {
		parts := make([]string, len(e.Problems))
		for i, p := range e.Problems {
			parts[i] = p.String()
		}
		why = "invalid: " + strings.Join(parts, "; ")
	}
	return fmt.Sprintf("revision %.12s of %s is not applied (the state stays at its last good revision): %s",
		e.Revision, e.Source, why)
}

func (e *RefusedError) Is(target error) bool { return target == ErrInvalid }

// Pull fetches branch of remote and integrates it (see Integrate).
func (s *Store) Pull(ctx context.Context, remote, branch string, opts PullOptions) (PullResult, error) {
	if remote == "" {
		remote = DefaultRemote
	}
	if branch == "" {
		if g, err := git.PlainOpen(s.Dir); err == nil {
			branch = currentBranch(g)
		}
	}
	if opts.VerifySignatures {
		if _, _, err := s.TrustedKeyRing(); err != nil { // before any download
			return PullResult{Source: remote + "/" + branch}, err
		}
	}
	rev, err := s.Fetch(ctx, remote, branch)
	if err != nil {
		return PullResult{Source: remote + "/" + branch}, err
	}
	return s.integrate(rev, remote+"/"+branch, plumbing.NewRemoteReferenceName(remote, branch), opts)
}

// Integrate applies commit rev (already fetched; source names it, like
// "origin/main") to the state directory, under the write lock:
//
//  0. With opts.VerifySignatures, rev itself (the remote branch's tip, as
//     Flux's spec.verify and Argo CD check it; the commits under it are
//     covered by its signature over the tree and parents) must be signed
//     by a key in .local/trusted-keys/, whenever anything is to be applied
//     (a rev already in HEAD's history changes nothing and is not
//     checked); otherwise a RefusedError, before any file is read.
//  1. Every file of rev that differs from HEAD is validated (object files
//     against their kind's schema, aima.yaml against the settings schema,
//     and only plain files at safe paths); any problem refuses rev with a
//     RefusedError and nothing changes.
//  2. If HEAD already contains rev, nothing happens. If rev contains HEAD,
//     the files are written and the branch is fast-forwarded to rev.
//  3. Otherwise the files rev changed since the merge base are written and
//     recorded in a merge commit whose parents are HEAD and rev. A file
//     changed differently on both sides (or edited and not committed here)
//     is a ConflictError unless opts.Resolve settles it.
//
// Files are written before the branch moves, so a crash in between leaves
// them as uncommitted edits, which the next start commits; a later pull
// then merges cleanly. Local commits are never dropped: HEAD only moves to a
// descendant of itself. A pulled aima.yaml may not change this machine's
// local settings (checkPulledSettings).
func (s *Store) Integrate(rev, source string, opts PullOptions) (PullResult, error) {
	return s.integrate(rev, source, "", opts)
}

// integrate is Integrate; when track (the remote-tracking branch of the
// source, refs/remotes/<remote>/<branch>) is set, it also refuses
// rewritten history and records an accepted rev in track.
//
// How a force-push is recognised, across restarts: the remote-tracking
// branch is the remote tip this state last accepted (applied, or found
// already included; Push sets it too, as git does). Fetch never moves it,
// so a refused revision, or a crash between fetch and apply, never makes a
// rewritten tip look known. A new tip that does not contain it is rewritten
// history. With no remote-tracking branch yet (the first pull of a remote)
// there is nothing to compare with, and nothing is refused for it.
func (s *Store) integrate(rev, source string, track plumbing.ReferenceName, opts PullOptions) (PullResult, error) {
	res := PullResult{Source: source, Incoming: rev}
	switch opts.Resolve {
	case "", "ours", "theirs":
	default:
		return res, FieldError("resolve", "%q: want ours or theirs", opts.Resolve)
	}
	keyRing := ""
	if opts.VerifySignatures {
		var err error
		if keyRing, _, err = s.TrustedKeyRing(); err != nil {
			return res, err
		}
	}
	if err := ensureDir(s.Dir); err != nil {
		return res, err
	}
	if err := s.lockAll(); err != nil {
		return res, err
	}
	defer s.unlockAll()
	r, err := s.gitRepo()
	if err != nil {
		return res, err
	}
	if track != "" {
		prev, err := acceptedTip(s.Dir, track)
		if err != nil {
			return res, err
		}
		if prev != "" && prev != rev && !opts.AllowRewrite {
			base, err := r.MergeBase(prev, rev)
			if err != nil {
				return res, err
			}
			if base != prev {
				return res, &RefusedError{Source: source, Revision: rev, Reason: fmt.Sprintf(
					"the history of %s was rewritten (force-pushed): its new tip %s does not contain %s, the tip accepted from it before. "+
						"Rewritten history is refused unless allowed (aima pull --allow-rewrite, or aima start --follow %s --allow-rewrite)",
					source, rev, prev, source)}
			}
		}
	}
	accept := func() error {
		if track == "" {
			return nil
		}
		return setAcceptedTip(s.Dir, track, rev)
	}
	head, err := r.Head()
	if err != nil && !errors.Is(err, repo.ErrNoCommits) {
		return res, err
	}
	res.Before, res.Head = head, head
	if head == rev {
		res.Outcome = PullUpToDate
		return res, accept()
	}
	theirs, err := r.Files(rev)
	if err != nil {
		return res, err
	}
	ours := map[string]repo.File{}
	base := ""
	if head != "" {
		if ours, err = r.Files(""); err != nil {
			return res, err
		}
		if base, err = r.MergeBase(head, rev); err != nil {
			return res, err
		}
		if base == rev {
			res.Outcome = PullAhead
			return res, accept()
		}
	}
	// The signature first: an untrusted revision's files are not even read.
	if keyRing != "" {
		if why := s.verifyCommit(rev, keyRing); why != "" {
			return res, &RefusedError{Source: source, Revision: rev, Reason: why}
		}
	}
	if probs := s.checkRevision(r, rev, theirs, ours); len(probs) > 0 {
		return res, &RefusedError{Source: source, Revision: rev, Problems: probs}
	}

	// The changes to bring in, and the conflicts.
	var changes []repo.Change
	var conflicts []string
	take := func(p string) error {
		if _, ok := theirs[p]; ok {
			b, err := r.Read(rev, p)
			if err != nil {
				return err
			}
			changes = append(changes, repo.Change{Path: p, Data: b})
		} else {
			changes = append(changes, repo.Change{Path: p, Delete: true})
		}
		return nil
	}
	ff := head == "" || base == head
	baseFiles := map[string]repo.File{}
	if !ff && base != "" {
		if baseFiles, err = r.Files(base); err != nil {
			return res, err
		}
	}
	for _, p := range unionPaths(theirs, ours, baseFiles) {
		t, o := theirs[p].Hash, ours[p].Hash
		if t == o {
			continue // the same on both sides (maybe changed on both, identically)
		}
		if !ff {
			b := baseFiles[p].Hash
			if t == b {
				continue // only we changed it
			}
			if o != b {
				switch opts.Resolve {
				case "ours":
					res.Kept = append(res.Kept, p)
					continue
				case "theirs":
				default:
					conflicts = append(conflicts, p)
					continue
				}
			}
		}
		// An edit here that is not committed yet (invalid, or not seen
		// by the agent) is a local change too: never overwrite it.
		if wt := s.workTreeHash(p); wt != o && wt != t && opts.Resolve != "theirs" {
			if opts.Resolve == "ours" {
				res.Kept = append(res.Kept, p)
				continue
			}
			conflicts = append(conflicts, p)
			continue
		}
		if err := take(p); err != nil {
			return res, err
		}
	}
	for _, c := range changes {
		if c.Path == "aima.yaml" && !c.Delete {
			if probs := s.checkPulledSettings(c.Data); len(probs) > 0 {
				return res, &RefusedError{Source: source, Revision: rev, Problems: probs}
			}
		}
	}
	if len(conflicts) > 0 {
		return res, &ConflictError{Source: source, Local: head, Remote: rev, Paths: conflicts}
	}

	// This machine keeps its own instance id whatever aima.yaml says.
	for _, c := range changes {
		if c.Path == "aima.yaml" {
			if err := s.pinInstance(c.Data); err != nil {
				return res, err
			}
		}
	}
	for _, c := range changes {
		if c.Delete {
			if err := RemoveFile(s.path(c.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
			continue
		}
		if err := WriteFile(s.path(c.Path), c.Data); err != nil {
			return res, err
		}
	}
	for _, c := range changes {
		res.Paths = append(res.Paths, c.Path)
	}
	if ff {
		if err := r.FastForward(head, rev, changes, source); err != nil {
			return res, err
		}
		res.Head, res.Outcome = rev, PullFastForward
		return res, accept()
	}
	msg := fmt.Sprintf("pull: merge %s (%.12s)\n", source, rev)
	if len(res.Paths) > 0 {
		msg += "\nfrom " + source + ": " + strings.Join(res.Paths, ", ")
	}
	if len(res.Kept) > 0 {
		msg += "\nkept local: " + strings.Join(res.Kept, ", ")
	}
	h, err := r.CommitMerge(changes, rev, msg, s.Author, time.Now())
	if err != nil {
		return res, err
	}
	res.Head, res.Outcome = h, PullMerge
	return res, accept()
}

// acceptedTip is the commit of the remote-tracking branch track, "" when
// there is none.
func acceptedTip(dir string, track plumbing.ReferenceName) (string, error) {
	g, err := git.PlainOpen(dir)
	if err != nil {
		return "", fmt.Errorf("open git repository %s: %w", dir, err)
	}
	ref, err := g.Reference(track, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", track, err)
	}
	return ref.Hash().String(), nil
}

// setAcceptedTip moves the remote-tracking branch track to rev.
func setAcceptedTip(dir string, track plumbing.ReferenceName, rev string) error {
	g, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("open git repository %s: %w", dir, err)
	}
	if err := g.Storer.SetReference(plumbing.NewHashReference(track, plumbing.NewHash(rev))); err != nil {
		return fmt.Errorf("update %s: %w", track, err)
	}
	return nil
}

// localSettings are the settings of aima.yaml that belong to the machine,
// not to the shared state: where its API listens (api), which host ports it
// hands out (port_range), which address published ports bind (host_ip) and
// which remote branch it follows (remote: a pushed change would point the
// follower at a branch it never accepted, skipping the rewrite check).
// A pulled commit that would change one of them is refused unless the local
// policy sets pulled_settings: true. (instance is kept by pinInstance.)
var localSettings = []string{"api", "port_range", "host_ip", "remote"}

// checkPulledSettings compares the local settings of an incoming aima.yaml
// with the local aima.yaml.
func (s *Store) checkPulledSettings(incoming []byte) []Problem {
	if p, _ := s.Policy(); p.PulledSettings {
		return nil
	}
	cur, err := os.ReadFile(s.path("aima.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new state directory (aima init --from) takes the remote's
	}
	var here, there map[string]any
	_ = yaml.Unmarshal(cur, &here) // an unreadable local file compares as empty: fail closed
	if err := yaml.Unmarshal(incoming, &there); err != nil {
		return []Problem{{File: "aima.yaml", Message: err.Error()}}
	}
	show := func(m map[string]any, k string) string {
		v, ok := m[k]
		if !ok || v == nil {
			return "unset"
		}
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	var probs []Problem
	for _, k := range localSettings {
		if a, b := show(here, k), show(there, k); a != b {
			probs = append(probs, Problem{File: "aima.yaml", Field: "/" + k, Message: fmt.Sprintf(
				"policy: a pulled commit may not change this machine's local setting %s (%s here, %s in the commit); "+
					"set it locally, or allow it with pulled_settings: true in %s", k, a, b, PolicyPath)})
		}
	}
	return probs
}

func unionPaths(maps ...map[string]repo.File) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for p := range m {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// workTreeHash is the blob hash of the file at p, "" when there is none.
func (s *Store) workTreeHash(p string) string {
	b, err := os.ReadFile(s.path(p))
	if err != nil {
		return ""
	}
	return repo.BlobHash(b)
}

// checkRevision validates the files of rev that differ from ours (those
// equal to a committed file here are in effect already).
func (s *Store) checkRevision(r *repo.Repo, rev string, theirs, ours map[string]repo.File) []Problem {
	var probs []Problem
	if _, ok := theirs["aima.yaml"]; !ok {
		probs = append(probs, Problem{File: "aima.yaml", Message: "missing: the revision is not an aima state directory"})
	}
	paths := make([]string, 0, len(theirs))
	for p := range theirs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := theirs[p]
		if o, ok := ours[p]; ok && o == f {
			continue
		}
		if msg := unsafePath(p); msg != "" {
			probs = append(probs, Problem{File: p, Message: msg})
			continue
		}
		if !f.Regular {
			probs = append(probs, Problem{File: p, Message: "not a plain file (a symbolic link, submodule or executable); a state directory holds only plain files"})
			continue
		}
		k, _, isObject := KindOfPath(p)
		if !isObject && p != "aima.yaml" {
			continue
		}
		b, err := r.Read(rev, p)
		if err != nil {
			probs = append(probs, Problem{File: p, Message: err.Error()})
			continue
		}
		if isObject {
			_, err = s.Decode(k, p, b)
		} else {
			_, err = decodeSettings(b)
		}
		if err != nil {
			for _, pr := range Problems(err) {
				if pr.File == "" {
					pr.File = p
				}
				probs = append(probs, pr)
			}
		}
	}
	return probs
}

// unsafePath says why a path from a remote tree must not be written.
func unsafePath(p string) string {
	parts := strings.Split(p, "/")
	if parts[0] == ".local" {
		return "files under .local/ are this machine's own and are never taken from a remote"
	}
	for _, part := range parts {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") || strings.ContainsAny(part, "\\\x00") {
			return "unsafe path"
		}
	}
	return ""
}

// localInstancePath holds this machine's instance id when it must differ
// from aima.yaml's (a state directory cloned from, or following, a shared
// repository). It is under .local/, so it is never committed.
const localInstancePath = ".local/instance"

// localInstance returns the instance id in .local/instance, or "".
func (s *Store) localInstance() string {
	b, err := os.ReadFile(s.path(localInstancePath))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// pinInstance keeps this machine's instance id when incoming (a pulled
// aima.yaml) would change it: the id is what marks this machine's
// containers, so changing it would orphan them.
func (s *Store) pinInstance(incoming []byte) error {
	if s.localInstance() != "" {
		return nil
	}
	in, err := decodeSettings(incoming)
	if err != nil {
		return err
	}
	cur, err := s.Settings()
	if err != nil || cur.Instance == "" || cur.Instance == in.Instance {
		return nil
	}
	return WriteFile(s.path(localInstancePath), []byte(cur.Instance+"\n"))
}

func newInstanceID() string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return "aima-" + hex.EncodeToString(rnd[:])
}

// InitFrom creates the state directory from a remote repository, as
// `aima init --from URL` does: the remote becomes origin, branch (""
// for the remote's default branch) is fetched, validated like a pull and
// checked out. This machine gets its own instance id in .local/instance,
// so machines that follow one repository never manage each other's
// containers. An empty remote yields a fresh state directory with origin
// set, ready for aima push.
func (s *Store) InitFrom(ctx context.Context, rawURL, branch string) (PullResult, error) {
	installTransports()
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
	auth, err := Auth(rawURL)
	if err != nil {
		return PullResult{}, err
	}
	// Ask the remote for its branches before creating anything.
	rm := git.NewRemote(nil, &config.RemoteConfig{Name: DefaultRemote, URLs: []string{rawURL}})
	refs, err := rm.ListContext(ctx, &git.ListOptions{Auth: auth})
	empty := errors.Is(err, transport.ErrEmptyRemoteRepository)
	if err != nil && !empty {
		return PullResult{}, remoteError("list", rawURL, err)
	}
	if !empty && branch == "" {
		if branch = defaultBranch(refs); branch == "" {
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
	res, err := s.integrate(rev, DefaultRemote+"/"+branch, plumbing.NewRemoteReferenceName(DefaultRemote, branch), PullOptions{})
	if err != nil {
		cleanup()
		return res, err
	}
	return res, nil
}

// setUpClone configures a new repository to track rawURL: origin, HEAD on
// branch with its upstream set (so plain git pull works too), .local/
// excluded even when the remote has no .gitignore, and a fresh instance id.
func (s *Store) setUpClone(rawURL, branch string) error {
	g, err := git.PlainOpen(s.Dir)
	if err != nil {
		return err
	}
	if _, err := g.CreateRemote(&config.RemoteConfig{Name: DefaultRemote, URLs: []string{rawURL}}); err != nil {
		return fmt.Errorf("add remote: %w", err)
	}
	if branch != "" {
		if err := g.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))); err != nil {
			return err
		}
		if err := g.CreateBranch(&config.Branch{Name: branch, Remote: DefaultRemote, Merge: plumbing.NewBranchReferenceName(branch)}); err != nil {
			return err
		}
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

// defaultBranch picks the branch a remote's HEAD points at; when the
// server does not say, the branch at HEAD's commit (main, then master,
// first), else main or master if present.
func defaultBranch(refs []*plumbing.Reference) string {
	var head plumbing.Hash
	branches := map[string]plumbing.Hash{}
	for _, r := range refs {
		switch {
		case r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference:
			return r.Target().Short()
		case r.Name() == plumbing.HEAD:
			head = r.Hash()
		case r.Name().IsBranch():
			branches[r.Name().Short()] = r.Hash()
		}
	}
	names := make([]string, 0, len(branches))
	for n := range branches {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		rank := func(n string) int {
			switch n {
			case "main":
				return 0
			case "master":
				return 1
			}
			return 2
		}
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		if branches[n] == head {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}
