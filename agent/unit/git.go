package unit

import (
	"context"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/aima-dev/aima/state"
)

// The history of the state directory and sharing it: show, revision
// diffs, rollback, push and pull.

// ShowRequest is state.show.
type ShowRequest struct {
	// The commit (default HEAD): a hash, HEAD~2, a branch.
	Rev string `json:"rev,omitempty"`
}

// Commit is state.show's answer.
type Commit struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	Hash    string     `json:"hash"`
	Author  string     `json:"author"`
	Email   string     `json:"email"`
	When    any        `json:"when"`
	Message string     `json:"message"`
	Parents []string   `json:"parents"`
	Files   []FileDiff `json:"files"`
	Diff    string     `json:"diff"`
}

// FileDiff is one file a commit or a revision range changed: A added, M
// modified, D deleted.
type FileDiff struct {
	Path   string `json:"path"`
	Status string `json:"status"`
}

// RevDiffRequest is state.revdiff: from..to.
type RevDiffRequest struct {
	// The older revision.
	From string `json:"from"`
	// The newer revision (default HEAD).
	To string `json:"to,omitempty"`
}

// RevDiff is the file differences between two revisions.
type RevDiff struct {
	From  string     `json:"from"`
	To    string     `json:"to"`
	Files []FileDiff `json:"files"`
	Diff  string     `json:"diff"`
}

// RollbackRequest is state.rollback.
type RollbackRequest struct {
	// The revision to restore.
	Rev string `json:"rev"`
	// One object (KIND/NAME, e.g. service/chat) instead of the whole state.
	Object string `json:"object,omitempty"`
}

// Rollback is state.rollback's answer: the paths restored (none: already as at rev).
type Rollback struct {
	Rev   string   `json:"rev"`
	Paths []string `json:"paths"`
}

// RemoteRequest is remote.push and remote.pull.
type RemoteRequest struct {
	// The remote (default origin).
	Remote string `json:"remote,omitempty"`
	// The branch (default: this one).
	Branch string `json:"branch,omitempty"`
}

// PullRequest is remote.pull.
type PullRequest struct {
	RemoteRequest
	// Settle files changed on both sides: ours or theirs.
	Resolve string `json:"resolve,omitempty" jsonschema:"enum=ours,enum=theirs"`
	// Apply only a tip commit signed by a key in .local/trusted-keys/.
	VerifySignatures bool `json:"verify_signatures,omitempty"`
	// Accept a rewritten (force-pushed) remote history.
	AllowRewrite bool `json:"allow_rewrite,omitempty"`
}

// Pushed is remote.push's answer.
type Pushed struct {
	Remote   string `json:"remote"`
	Branch   string `json:"branch"`
	Revision string `json:"revision"`
	UpToDate bool   `json:"up_to_date"`
}

// Pulled is remote.pull's answer.
type Pulled struct {
	Source   string   `json:"source"`
	Incoming string   `json:"incoming"`
	Before   string   `json:"before"`
	Head     string   `json:"head"`
	Outcome  string   `json:"outcome"`
	Paths    []string `json:"paths"`
	Kept     []string `json:"kept"`
}

func addGit(r *Registry) {
	r.Add(Typed(Unit{Name: "state.show", Description: "A commit of the state: who, when, why, the files it changed and their diff", Read: true},
		func(ctx context.Context, env *Env, req ShowRequest) (Commit, error) {
			return Show(env.Store, firstOf(req.Rev, "HEAD"))
		}))
	r.Add(Typed(Unit{Name: "state.revdiff", Description: "The file differences between two revisions of the state", Read: true},
		func(ctx context.Context, env *Env, req RevDiffRequest) (RevDiff, error) {
			return Diff(env.Store, firstOf(req.From, "HEAD"), firstOf(req.To, "HEAD"))
		}))
	r.Add(Typed(Unit{Name: "state.rollback", Description: "Restore the state (or one object) as it was at a revision, as a new commit; the agent converges"},
		func(ctx context.Context, env *Env, req RollbackRequest) (Rollback, error) {
			if req.Rev == "" {
				return Rollback{}, invalidField("/rev", "rev is required: the revision to restore")
			}
			path := ""
			if req.Object != "" {
				var err error
				if path, err = ObjectPath(req.Object); err != nil {
					return Rollback{}, err
				}
			}
			paths, err := env.Store.Rollback(req.Rev, path)
			if err != nil {
				return Rollback{}, err
			}
			env.kick()
			if paths == nil {
				paths = []string{}
			}
			return Rollback{Rev: req.Rev, Paths: paths}, nil
		}))
	r.Add(Typed(Unit{Name: "remote.push", Description: "Send the state's commits to a remote (default origin); refused when the remote has commits this state lacks"},
		func(ctx context.Context, env *Env, req RemoteRequest) (Pushed, error) {
			res, err := env.Store.Push(ctx, req.Remote, req.Branch)
			if err != nil {
				return Pushed{}, err
			}
			return PushAnswer(res), nil
		}))
	r.Add(Typed(Unit{Name: "remote.pull", Description: "Fetch a remote branch, validate it (files, policy, signatures, history) and apply it: a fast-forward or a merge commit; a conflict or a refused revision changes nothing"},
		func(ctx context.Context, env *Env, req PullRequest) (Pulled, error) {
			res, err := env.Store.Pull(ctx, req.Remote, req.Branch, state.PullOptions{Resolve: req.Resolve, VerifySignatures: req.VerifySignatures, AllowRewrite: req.AllowRewrite})
			if err != nil {
				return Pulled{}, err
			}
			env.kick()
			return PullAnswer(res), nil
		}))
	r.Add(Unit{Name: "state.validate", Description: "Every problem of the state directory's files (objects and settings), each naming its file, line, column and field", Read: true,
		Request: reflectType[struct{}](), Response: reflectType[ListAnswer](), Run: validateUnit})
}

// PushAnswer is remote.push's answer for a push's result (the CLI prints
// the same).
func PushAnswer(res state.PushResult) Pushed {
	return Pushed{Remote: res.Remote, Branch: res.Branch, Revision: res.Revision, UpToDate: res.UpToDate}
}

// PullAnswer is remote.pull's answer for a pull's result.
func PullAnswer(res state.PullResult) Pulled {
	return Pulled{Source: res.Source, Incoming: res.Incoming, Before: res.Before, Head: res.Head, Outcome: res.Outcome,
		Paths: nonNil(res.Paths), Kept: nonNil(res.Kept)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ObjectPath is the file of KIND/NAME (service/chat), or a kind's
// directory for KIND alone.
func ObjectPath(arg string) (string, error) {
	kind, name, _ := strings.Cut(arg, "/")
	k, err := state.LookupKind(kind)
	if err != nil {
		return "", err
	}
	if name == "" {
		return k.Dir + "/", nil
	}
	if err := state.CheckName("name", name); err != nil {
		return "", err
	}
	return k.Path(name), nil
}

// Show is one commit with the files it changed and their diff.
func Show(st *state.Store, rev string) (Commit, error) {
	gr, err := openGit(st)
	if err != nil {
		return Commit{}, err
	}
	c, err := commitAt(gr, rev)
	if err != nil {
		return Commit{}, err
	}
	var parent *object.Commit
	if c.NumParents() > 0 {
		if parent, err = c.Parent(0); err != nil {
			return Commit{}, err
		}
	}
	files, patch, err := treeDiff(parent, c)
	if err != nil {
		return Commit{}, err
	}
	parents := make([]string, 0, c.NumParents())
	for _, p := range c.ParentHashes {
		parents = append(parents, p.String())
	}
	h := c.Hash.String()
	return Commit{ID: h, Name: h[:12], Hash: h, Author: c.Author.Name, Email: c.Author.Email, When: c.Author.When,
		Message: strings.TrimRight(c.Message, "\n"), Parents: parents, Files: files, Diff: patch}, nil
}

// Diff is the file differences between revisions from and to.
func Diff(st *state.Store, from, to string) (RevDiff, error) {
	gr, err := openGit(st)
	if err != nil {
		return RevDiff{}, err
	}
	a, err := commitAt(gr, from)
	if err != nil {
		return RevDiff{}, err
	}
	b, err := commitAt(gr, to)
	if err != nil {
		return RevDiff{}, err
	}
	files, patch, err := treeDiff(a, b)
	if err != nil {
		return RevDiff{}, err
	}
	return RevDiff{From: a.Hash.String(), To: b.Hash.String(), Files: files, Diff: patch}, nil
}

func openGit(st *state.Store) (*git.Repository, error) {
	gr, err := git.PlainOpen(st.Dir)
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", st.Dir, err)
	}
	return gr, nil
}

func commitAt(gr *git.Repository, rev string) (*object.Commit, error) {
	h, err := gr.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q: %v: %w", rev, err, state.ErrNotFound)
	}
	return gr.CommitObject(*h)
}

// treeDiff lists the files that differ from a (nil: nothing) to b, and the
// unified diff.
func treeDiff(a, b *object.Commit) ([]FileDiff, string, error) {
	var ta *object.Tree
	if a != nil {
		var err error
		if ta, err = a.Tree(); err != nil {
			return nil, "", err
		}
	}
	tb, err := b.Tree()
	if err != nil {
		return nil, "", err
	}
	changes, err := object.DiffTree(ta, tb)
	if err != nil {
		return nil, "", err
	}
	files := []FileDiff{}
	for _, ch := range changes {
		action, err := ch.Action()
		if err != nil {
			return nil, "", err
		}
		f := FileDiff{Status: "M", Path: ch.To.Name}
		switch action.String() {
		case "Insert":
			f.Status = "A"
		case "Delete":
			f.Status, f.Path = "D", ch.From.Name
		}
		files = append(files, f)
	}
	patch, err := changes.Patch()
	if err != nil {
		return nil, "", err
	}
	return files, patch.String(), nil
}

// validateUnit lists the problems of every object file (as the loader
// sees them) and of aima.yaml.
func validateUnit(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
	items := []map[string]any{}
	add := func(p state.Problem) {
		items = append(items, map[string]any{"id": p.String(), "name": p.File, "file": p.File, "line": p.Line, "column": p.Column, "field": p.Field, "message": p.Message})
	}
	for _, k := range state.Kinds {
		entries, err := env.Store.List(k)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Problem != nil {
				for _, p := range e.Problem.Problems {
					add(p)
				}
			}
		}
	}
	if _, err := env.Store.Settings(); err != nil {
		for _, p := range state.Problems(err) {
			if p.File == "" {
				p.File = "aima.yaml"
			}
			add(p)
		}
	}
	out := List(items)
	out["valid"] = len(items) == 0
	return out, nil
}
