package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aima-dev/aima/state/merge"
	"github.com/aima-dev/aima/state/repo"
	"github.com/aima-dev/aima/state/repo/remote"
)

// What a pull does: integrate observes the commits and trees, package
// merge plans, integrate validates what the plan would bring in and applies
// it. Moving commits over the network is remote.go's.

// Pull outcomes (merge.Outcome, as strings for PullResult).
const (
	PullUpToDate    = string(merge.UpToDate)    // nothing new
	PullAhead       = string(merge.Ahead)       // the remote's commits are all here already
	PullFastForward = string(merge.FastForward) // HEAD moved to the remote's commit
	PullMerge       = string(merge.Merge)       // a merge commit joins both sides
)

// PullResult is what Pull did.
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

	// merge, when set, always joins rev with a merge commit (no
	// fast-forward) whose message is merge (MergeBranch).
	merge string
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

// Pull fetches branch of remote name and integrates it (see integrate).
func (s *Store) Pull(ctx context.Context, name, branch string, opts PullOptions) (PullResult, error) {
	if name == "" {
		name = DefaultRemote
	}
	if branch == "" {
		branch = remote.HeadBranch(s.Dir)
	}
	source := name + "/" + branch
	if opts.VerifySignatures {
		if _, _, err := s.TrustedKeyRing(); err != nil { // before any download
			return PullResult{Source: source}, err
		}
	}
	rev, err := s.Fetch(ctx, name, branch)
	if err != nil {
		return PullResult{Source: source}, err
	}
	return s.integrate(rev, source, &tracking{name, branch}, opts)
}

// tracking names the remote branch a revision comes from; its
// remote-tracking branch refs/remotes/<remote>/<branch> holds the tip last
// accepted from it.
type tracking struct{ remote, branch string }

// integrate applies commit rev (already fetched; source names it, like
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
// Which files steps 2 and 3 write, delete, keep or find in conflict is
// decided by merge.Decide from the three trees and the work tree; this
// method only reads its inputs, checks and applies its plan.
//
// Files are written before the branch moves, so a crash in between leaves
// them as uncommitted edits, which the next start commits; a later pull
// then merges cleanly. Local commits are never dropped: HEAD only moves to a
// descendant of itself. A pulled aima.yaml may not change this machine's
// local settings (checkPulledSettings). A branch that cannot move puts the
// written files back (applyFiles).
//
// When track is set, it also refuses rewritten history and records an
// accepted rev in track's remote-tracking branch.
//
// How a force-push is recognised, across restarts: the remote-tracking
// branch is the remote tip this state last accepted (applied, or found
// already included; Push sets it too, as git does). Fetch never moves it,
// so a refused revision, or a crash between fetch and apply, never makes a
// rewritten tip look known. A new tip that does not contain it is rewritten
// history. With no remote-tracking branch yet (the first pull of a remote)
// there is nothing to compare with, and nothing is refused for it.
func (s *Store) integrate(rev, source string, track *tracking, opts PullOptions) (res PullResult, err error) {
	res = PullResult{Source: source, Incoming: rev}
	switch merge.Resolve(opts.Resolve) {
	case merge.Refuse, merge.Ours, merge.Theirs:
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
	if track != nil && !opts.AllowRewrite {
		if err := s.checkRewrite(r, rev, source, track); err != nil {
			return res, err
		}
	}
	accept := func() error {
		if track == nil {
			return nil
		}
		return fromRemote(remote.Track(s.Dir, track.remote, track.branch, rev))
	}

	// Observe: the commits, and whether anything is to be done.
	head, err := r.Head()
	if err != nil && !errors.Is(err, repo.ErrNoCommits) {
		return res, err
	}
	res.Before, res.Head = head, head
	base := ""
	if head != "" && head != rev {
		if base, err = r.MergeBase(head, rev); err != nil {
			return res, err
		}
	}
	in := merge.Input{Ours: head, Theirs: rev, Base: base, Resolve: merge.Resolve(opts.Resolve)}
	switch outcome := merge.Classify(head, rev, base); outcome {
	case merge.UpToDate, merge.Ahead:
		res.Outcome = string(outcome)
		return res, accept()
	}
	// The signature first: an untrusted revision's files are not even read.
	if keyRing != "" {
		if why := s.verifyCommit(rev, keyRing); why != "" {
			return res, &RefusedError{Source: source, Revision: rev, Reason: why}
		}
	}
	theirs, err := r.Files(rev)
	if err != nil {
		return res, err
	}
	ours := map[string]repo.File{}
	if head != "" {
		if ours, err = r.Files(""); err != nil {
			return res, err
		}
	}
	if probs := s.checkRevision(r, rev, theirs, ours); len(probs) > 0 {
		return res, &RefusedError{Source: source, Revision: rev, Problems: probs}
	}
	in.OursTree, in.TheirsTree = hashes(ours), hashes(theirs)
	if base != "" && base != head {
		baseFiles, err := r.Files(base)
		if err != nil {
			return res, err
		}
		in.BaseTree = hashes(baseFiles)
	}
	in.WorkTree = map[string]string{}
	for _, p := range merge.Changed(in.OursTree, in.TheirsTree) {
		if h := s.workTreeHash(p); h != "" {
			in.WorkTree[p] = h
		}
	}

	// Plan, and check what the plan brings in.
	plan := merge.Decide(in)
	res.Kept = plan.Kept()
	var changes []repo.Change
	for _, c := range plan.Changes() {
		if c.Action == merge.Delete {
			changes = append(changes, repo.Change{Path: c.Path, Delete: true})
			continue
		}
		b, err := r.Read(rev, c.Path)
		if err != nil {
			return res, err
		}
		if c.Path == "aima.yaml" {
			if probs := s.checkPulledSettings(b); len(probs) > 0 {
				return res, &RefusedError{Source: source, Revision: rev, Problems: probs}
			}
		}
		changes = append(changes, repo.Change{Path: c.Path, Data: b})
	}
	if conflicts := plan.Conflicts(); len(conflicts) > 0 {
		return res, &ConflictError{Source: source, Local: head, Remote: rev, Paths: conflicts}
	}

	// Apply: the files, then the branch.
	for _, c := range changes {
		if c.Path == "aima.yaml" && !c.Delete {
			// This machine keeps its own instance id whatever aima.yaml says.
			if err := s.pinInstance(c.Data); err != nil {
				return res, err
			}
		}
	}
	// The files as a door writes them (never through a linked kind
	// directory), put back if the branch cannot move: a pull is applied
	// whole or not at all.
	u, err := s.applyFiles(changes)
	moved := false
	defer func() {
		if moved {
			u.done()
		} else if uerr := u.undo(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undo the pulled files: %w", uerr))
		}
	}()
	if err != nil {
		return res, err
	}
	for _, c := range changes {
		res.Paths = append(res.Paths, c.Path)
	}
	if plan.Outcome == merge.FastForward && opts.merge == "" {
		if err := r.FastForward(head, rev, changes, source); err != nil {
			return res, err
		}
		moved = true
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
	if opts.merge != "" {
		msg = opts.merge
	}
	h, err := r.CommitMerge(changes, rev, msg, s.Author, time.Now())
	if err != nil {
		return res, err
	}
	moved = true
	res.Head, res.Outcome = h, PullMerge
	return res, accept()
}

// checkRewrite refuses rev when it does not contain the tip accepted from
// track before (see integrate).
func (s *Store) checkRewrite(r *repo.Repo, rev, source string, track *tracking) error {
	prev, err := remote.Tracked(s.Dir, track.remote, track.branch)
	if err != nil || prev == "" || prev == rev {
		return err
	}
	base, err := r.MergeBase(prev, rev)
	if err != nil || base == prev {
		return err
	}
	return &RefusedError{Source: source, Revision: rev, Reason: fmt.Sprintf(
		"the history of %s was rewritten (force-pushed): its new tip %s does not contain %s, the tip accepted from it before. "+
			"Rewritten history is refused unless allowed (aima pull --allow-rewrite, or aima start --follow %s --allow-rewrite)",
		source, rev, prev, source)}
}

// hashes is the path → blob hash map of a tree, as package merge reads it.
func hashes(files map[string]repo.File) map[string]string {
	out := make(map[string]string, len(files))
	for p, f := range files {
		out[p] = f.Hash
	}
	return out
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
