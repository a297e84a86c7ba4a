package operator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// A proposal is made in a scratch copy of the state directory at the
// commit it starts from (.local/proposals/<conversation>/, never
// committed): the write units run there unchanged, validating as always,
// and each write's changed files become one commit on the branch
// agent/<conversation> of the real repository. The real work tree, its
// branch and the containers are untouched until Approve.

// ProposalsDir holds the scratch copies.
const ProposalsDir = ".local/proposals"

func (o *Operator) scratchDir(id string) string {
	return filepath.Join(o.env.Store.Dir, filepath.FromSlash(ProposalsDir), id)
}

// propose runs write unit u in the conversation's scratch copy and records
// what it changed on the conversation's branch.
func (o *Operator) propose(ctx context.Context, conv *Conversation, u unit.Unit, params map[string]any) (map[string]any, error) {
	r, err := o.env.Store.Repo()
	if err != nil {
		return nil, err
	}
	p := conv.Proposal
	if p == nil || p.Status != StatusProposed {
		head, err := r.Head()
		if err != nil {
			return nil, fmt.Errorf("propose: %w", err)
		}
		p = &Proposal{Branch: "agent/" + conv.ID, Base: head, Status: StatusProposed, Changes: []string{}}
		if err := o.drop(p); err != nil { // what a crash may have left of an earlier one
			return nil, err
		}
		conv.Proposal = p
	}
	tip, err := r.Branch(p.Branch)
	if err != nil {
		return nil, err
	}
	if tip == "" {
		tip = p.Base
	}
	dir := o.scratchDir(conv.ID)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := o.copyState(r, tip, dir); err != nil {
			return nil, fmt.Errorf("propose: copy the state at %.12s: %w", tip, err)
		}
	}
	scratch, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	scratch.UnitExists = o.env.Store.UnitExists
	scratch.Author = Author
	env := &unit.Env{Store: scratch, Services: proposed{st: scratch, id: conv.ID}, Detect: o.env.Detect, Version: o.env.Version}
	out, err := o.reg.Call(ctx, env, u.Name, params)
	if err != nil {
		return nil, err
	}
	changes, err := changedFiles(r, tip, dir)
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		out["proposed"] = "nothing to change"
		return out, nil
	}
	subject := u.Name
	if sr, err := scratch.Repo(); err == nil {
		if log, err := sr.Log("", 1); err == nil && len(log) == 1 {
			subject, _, _ = strings.Cut(log[0].Message, "\n")
		}
	}
	msg := fmt.Sprintf("%s\n\nProposed by the operator, not applied: aima agent show %s, then approve or reject.\n\n%s: %s", subject, conv.ID, Trailer, conv.ID)
	if who := o.env.Store.For(ctx).Author.Name; who != "" {
		msg += "\nRequested-by: " + who // whose question it answers
	}
	h, err := r.CommitOn(p.Branch, tip, changes, msg, Author, o.now())
	if err != nil {
		return nil, err
	}
	p.Changes = append(p.Changes, subject)
	out["proposed"] = fmt.Sprintf("on branch %s (commit %.12s); not applied until the owner approves it", p.Branch, h)
	return out, nil
}

// stateFile reports whether rel is a file a proposal may change: an
// object's file or aima.yaml.
func stateFile(rel string) bool {
	if rel == "aima.yaml" {
		return true
	}
	_, _, ok := state.KindOfPath(rel)
	return ok
}

// copyState writes every file of commit rev into dir, with this
// directory's local policy (writes there are checked against it).
func (o *Operator) copyState(r *repo.Repo, rev, dir string) error {
	files, err := r.Files(rev)
	if err != nil {
		return err
	}
	for path, f := range files {
		if !f.Regular {
			continue
		}
		b, err := r.Read(rev, path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755); err != nil {
			return err
		}
		if err := state.WriteFile(filepath.Join(dir, filepath.FromSlash(path)), b); err != nil {
			return err
		}
	}
	if b, err := os.ReadFile(filepath.Join(o.env.Store.Dir, filepath.FromSlash(state.PolicyPath))); err == nil {
		if err := os.MkdirAll(filepath.Join(dir, ".local"), 0o755); err != nil {
			return err
		}
		return state.WriteFile(filepath.Join(dir, filepath.FromSlash(state.PolicyPath)), b)
	}
	return nil
}

// changedFiles are the state files of dir that differ from commit rev.
func changedFiles(r *repo.Repo, rev, dir string) ([]repo.Change, error) {
	files, err := r.Files(rev)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var changes []repo.Change
	err = filepath.WalkDir(dir, func(abs string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, abs)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" || rel == ".local" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !stateFile(rel) {
			return nil
		}
		seen[rel] = true
		b, err := os.ReadFile(abs)
		if err != nil {
			return err
		}
		if f, ok := files[rel]; !ok || f.Hash != repo.BlobHash(b) {
			changes = append(changes, repo.Change{Path: rel, Data: b})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for path := range files {
		if stateFile(path) && !seen[path] {
			changes = append(changes, repo.Change{Path: path, Delete: true})
		}
	}
	return changes, nil
}

// diff is the proposal's diff from where it started.
func (o *Operator) diff(p *Proposal) (string, error) {
	r, err := o.env.Store.Repo()
	if err != nil {
		return "", err
	}
	tip, err := r.Branch(p.Branch)
	if err != nil || tip == "" {
		return "", err
	}
	return r.Patch(p.Base, tip)
}

// drop removes a proposal's branch and scratch copy.
func (o *Operator) drop(p *Proposal) error {
	r, err := o.env.Store.Repo()
	if err != nil {
		return err
	}
	if err := r.DeleteBranch(p.Branch); err != nil {
		return err
	}
	id := strings.TrimPrefix(p.Branch, "agent/")
	return os.RemoveAll(o.scratchDir(id))
}

// pending is conversation id with its proposed change set.
func (o *Operator) pending(id string) (*Conversation, error) {
	c, err := o.load(id)
	if err != nil {
		return nil, err
	}
	if c.Proposal == nil {
		return nil, fmt.Errorf("conversation %s proposed no change: %w", id, state.ErrNotFound)
	}
	if c.Proposal.Status != StatusProposed {
		return nil, fmt.Errorf("the change set of conversation %s is %s already (%s): %w", id, c.Proposal.Status, c.Proposal.By, state.ErrConflict)
	}
	return c, nil
}

// Approve merges the conversation's proposed change set into the working
// branch as one merge commit by env's author (every file validated again,
// as a pull's are), drops its branch, and converges the services and
// apps it changed. When a file it changes was changed on the working
// branch too since the proposal started, nothing is applied and the error
// says so.
func (o *Operator) Approve(ctx context.Context, env *unit.Env, id string) (map[string]any, error) {
	unlock := o.lock(id)
	defer unlock()
	c, err := o.pending(id)
	if err != nil {
		return nil, err
	}
	p := c.Proposal
	st := env.Store
	if err := portClash(st, p); err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("agent approve: %s (%s)", id, strings.Join(p.Changes, "; "))
	res, err := st.MergeBranch(p.Branch, msg)
	var ce *state.ConflictError
	if errors.As(err, &ce) {
		return nil, fmt.Errorf("%w: the change set of conversation %s changes %s, which changed on the working branch too since it was proposed (at %.12s, now %.12s); nothing was applied. "+
			"Reject it (aima agent reject %s) and ask again, so the operator starts from the state as it is", state.ErrConflict, id, strings.Join(ce.Paths, ", "), p.Base, ce.Local, id)
	}
	if err != nil {
		return nil, err
	}
	p.Status, p.Commit, p.By = StatusApproved, res.Head, st.Author.Name
	if err := o.drop(p); err != nil {
		return nil, err
	}
	if err := o.save(c); err != nil {
		return nil, err
	}
	out := map[string]any{"id": id, "name": id, "status": StatusApproved, "commit": res.Head, "paths": res.Paths, "changes": p.Changes}
	// The containers follow (the agent's pass; without one, a pass of
	// each object changed).
	var problems []string
	if env.Services != nil {
		for _, path := range res.Paths {
			k, name, ok := state.KindOfPath(path)
			if !ok || (k != state.KindService && k != state.KindApp) {
				continue
			}
			if err := env.Services.Converge(ctx, k.Name, name); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	if len(problems) > 0 {
		out["problems"] = problems
	}
	return out, nil
}

// portClash refuses a change set whose services claim a host port that a
// service of the working branch claims now: both files are valid alone,
// and were allocated apart (the proposal's port was free at its base).
func portClash(st *state.Store, p *Proposal) error {
	r, err := st.Repo()
	if err != nil {
		return err
	}
	tip, err := r.Branch(p.Branch)
	if err != nil || tip == "" {
		return err // MergeBranch says a missing branch
	}
	theirs, err := r.Files(tip)
	if err != nil {
		return err
	}
	base, err := r.Files(p.Base)
	if err != nil {
		return err
	}
	entries, err := st.List(state.KindService)
	if err != nil {
		return err
	}
	claims := map[int]string{}
	for _, e := range entries {
		if svc, ok := e.Object.(*state.Service); ok && e.Source == state.SourceFile {
			for _, port := range svc.Ports() {
				claims[port] = svc.Name
			}
		}
	}
	for path, f := range theirs {
		k, _, ok := state.KindOfPath(path)
		if !ok || k != state.KindService || base[path].Hash == f.Hash {
			continue
		}
		b, err := r.Read(tip, path)
		if err != nil {
			return err
		}
		obj, err := st.Decode(k, path, b)
		if err != nil {
			continue // MergeBranch names the problem
		}
		svc := obj.(*state.Service)
		for _, port := range svc.Ports() {
			if by := claims[port]; port != 0 && by != "" && by != svc.Name {
				return fmt.Errorf("%w: the change set of conversation %s gives service %s host port %d, which service %s has taken since it was proposed; nothing was applied. "+
					"Reject it (aima agent reject %s) and ask again", state.ErrConflict, strings.TrimPrefix(p.Branch, "agent/"), svc.Name, port, by, strings.TrimPrefix(p.Branch, "agent/"))
			}
		}
	}
	return nil
}

// Reject drops the conversation's proposed change set.
func (o *Operator) Reject(id string) (map[string]any, error) {
	unlock := o.lock(id)
	defer unlock()
	c, err := o.pending(id)
	if err != nil {
		return nil, err
	}
	if err := o.drop(c.Proposal); err != nil {
		return nil, err
	}
	c.Proposal.Status = StatusRejected
	if err := o.save(c); err != nil {
		return nil, err
	}
	return map[string]any{"id": id, "name": id, "status": StatusRejected, "changes": c.Proposal.Changes}, nil
}

// proposed is unit.Services in a scratch copy: a state change is a file
// change there; nothing runs until the change set is approved.
type proposed struct {
	st *state.Store
	id string
}

var errProposal = fmt.Errorf("%w: this needs the containers, and a proposed change has none until it is approved", state.ErrInvalid)

func (p proposed) note() map[string]any {
	return map[string]any{"status": "proposed", "reason": "not applied until approved: aima agent approve " + p.id}
}

func (p proposed) SetState(ctx context.Context, kind, name, want string) error {
	k, err := state.LookupKind(kind)
	if err != nil {
		return err
	}
	_, err = agent.SetState(p.st.For(ctx), k, name, want)
	return err
}

func (p proposed) Converge(context.Context, string, string) error { return nil }

func (p proposed) Status(context.Context, string, string) (map[string]any, error) {
	return p.note(), nil
}

// Wait answers at once: the wanted state is what was proposed.
func (p proposed) Wait(_ context.Context, _, _, want string, _ time.Duration) (map[string]any, error) {
	m := p.note()
	m["status"] = want
	return m, nil
}

func (p proposed) Route(context.Context, string) (string, error) { return "", errProposal }
func (p proposed) Logs(context.Context, string, string, int, int) (string, error) {
	return "", errProposal
}
func (p proposed) Resources(context.Context) ([]map[string]any, error) { return nil, errProposal }
func (p proposed) Plan(context.Context) (map[string]any, error)        { return nil, errProposal }
func (p proposed) Sync(context.Context) (map[string]any, error)        { return nil, errProposal }
func (p proposed) Render(context.Context, string, string) ([]any, error) {
	return nil, errProposal
}
