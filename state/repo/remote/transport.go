package remote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// lookup opens dir's repository and its remote name, with the credentials
// the remote's URL needs.
func lookup(dir, name string) (*git.Repository, *git.Remote, transport.AuthMethod, error) {
	installTransports()
	g, err := open(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	rm, err := g.Remote(name)
	if errors.Is(err, git.ErrRemoteNotFound) {
		return nil, nil, nil, newError(fmt.Sprintf("remote %q", name), NotFound, "add it with: aima remote add %s URL", name)
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

// Fetch downloads branch of remote name into ref into (a full ref name, such
// as refs/aima/incoming/origin/main) of dir's repository and returns the
// commit it is at. It moves no other ref: not HEAD's branch, and not the
// remote-tracking branch (see Track). An empty remote repository, or one
// without branch, is an Error of kind NotFound; a remote that cannot be
// reached, one of kind Unavailable.
func Fetch(ctx context.Context, dir, name, branch, into string) (string, error) {
	g, rm, auth, err := lookup(dir, name)
	if err != nil {
		return "", err
	}
	op := "fetch " + name + "/" + branch
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), into))
	err = rm.FetchContext(ctx, &git.FetchOptions{RemoteName: name, RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return "", newError(op, NotFound, "the remote repository is empty (aima push publishes this state)")
	case strings.Contains(err.Error(), "couldn't find remote ref"):
		return "", newError(op, NotFound, "the remote has no branch %q", branch)
	default:
		return "", transportError("fetch", rm.Config().URLs[0], err)
	}
	ref, err := g.Reference(plumbing.ReferenceName(into), true)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return ref.Hash().String(), nil
}

// Push sends branch local of dir's repository to branch of remote name and
// returns the commit sent; upToDate is true when the remote had it already.
// A remote with commits that local lacks is an Error of kind Rejected. After
// a push the remote-tracking branch refs/remotes/<name>/<branch> is at the
// commit sent, as git push leaves it.
func Push(ctx context.Context, dir, name, local, branch string) (rev string, upToDate bool, err error) {
	g, rm, auth, err := lookup(dir, name)
	if err != nil {
		return "", false, err
	}
	head, err := g.Reference(plumbing.NewBranchReferenceName(local), true)
	if err != nil {
		return "", false, newError("push", NotFound, "branch %s has no commits", local)
	}
	rev = head.Hash().String()
	spec := config.RefSpec(fmt.Sprintf("%s:%s", plumbing.NewBranchReferenceName(local), plumbing.NewBranchReferenceName(branch)))
	// RemoteName must be the remote's own name: go-git refuses a push whose
	// options name another remote, and defaults them to origin.
	err = rm.PushContext(ctx, &git.PushOptions{RemoteName: name, RefSpecs: []config.RefSpec{spec}, Auth: auth})
	switch {
	case err == nil:
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		upToDate = true
	case strings.Contains(err.Error(), "non-fast-forward"), strings.Contains(err.Error(), "fetch first"), errors.Is(err, git.ErrForceNeeded):
		return rev, false, newError("push "+name+"/"+branch, Rejected,
			"the remote has commits this state directory does not have; run aima pull %s %s first", name, branch)
	default:
		return rev, false, transportError("push", rm.Config().URLs[0], err)
	}
	// Record where the remote now is, as git push does.
	_ = setTracking(g, name, branch, head.Hash().String())
	return rev, upToDate, nil
}

// DefaultBranch asks the repository at rawURL for its branches and returns
// the one its HEAD points at (see defaultBranch); empty is true when the
// repository has no refs at all.
func DefaultBranch(ctx context.Context, rawURL string) (branch string, empty bool, err error) {
	installTransports()
	auth, err := Auth(rawURL)
	if err != nil {
		return "", false, err
	}
	rm := git.NewRemote(nil, &config.RemoteConfig{Name: "origin", URLs: []string{rawURL}})
	refs, err := rm.ListContext(ctx, &git.ListOptions{Auth: auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return "", true, nil
	}
	if err != nil {
		return "", false, transportError("list", rawURL, err)
	}
	return defaultBranch(refs), false, nil
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

// transportError classifies an error of the transport, keeping passwords
// out of it: a repository that is not there is NotFound, anything else
// (unreachable, credentials refused, cancelled) Unavailable.
func transportError(op, rawURL string, err error) error {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	msg = strings.ReplaceAll(msg, rawURL, Redact(rawURL))
	kind := Unavailable
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		kind = NotFound
	}
	return &Error{Op: op + " " + Redact(rawURL), Kind: kind, Err: errors.New(msg)}
}
