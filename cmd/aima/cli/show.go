package cli

import (
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/state"
)

func newShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show [REV]",
		Short: "Show a commit of the state: who, when, why, the files it changed and their diff",
		Example: "  aima show            # the last change\n" +
			"  aima show HEAD~2",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			rev := "HEAD"
			if len(args) == 1 {
				rev = args[0]
			}
			gr, err := openGit(st)
			if err != nil {
				return err
			}
			c, err := commitAt(gr, rev)
			if err != nil {
				return err
			}
			var parent *object.Commit
			if c.NumParents() > 0 {
				if parent, err = c.Parent(0); err != nil {
					return err
				}
			}
			files, patch, err := treeDiff(parent, c)
			if err != nil {
				return err
			}
			parents := make([]string, 0, c.NumParents())
			for _, p := range c.ParentHashes {
				parents = append(parents, p.String())
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, map[string]any{
					"id": c.Hash.String(), "name": c.Hash.String()[:12], "hash": c.Hash.String(),
					"author": c.Author.Name, "email": c.Author.Email, "when": c.Author.When,
					"message": strings.TrimRight(c.Message, "\n"), "parents": parents, "files": files, "diff": patch,
				})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "commit %s\n", c.Hash)
			if len(parents) > 1 {
				fmt.Fprintf(w, "Merge: %s\n", strings.Join(shortHashes(parents), " "))
			}
			fmt.Fprintf(w, "Author: %s <%s>\nDate:   %s\n\n", c.Author.Name, c.Author.Email, c.Author.When.Format("Mon Jan 2 15:04:05 2006 -0700"))
			for _, line := range strings.Split(strings.TrimRight(c.Message, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", line)
			}
			fmt.Fprintln(w)
			for _, f := range files {
				fmt.Fprintf(w, " %s %s\n", f["status"], f["path"])
			}
			if patch != "" {
				fmt.Fprintln(w)
				fmt.Fprint(w, patch)
			}
			return nil
		},
	}
}

// runRevDiff is `aima diff REV` (REV to HEAD) and `aima diff A..B`: the file
// differences between revisions. Exit codes as for the plan: 0 none, 1
// differences, 2 error.
func runRevDiff(cmd *cobra.Command, g *globals, arg string) error {
	fail := func(err error) error { return exitError{code: 2, msg: err.Error()} }
	st, err := g.store()
	if err != nil {
		return fail(err)
	}
	from, to := arg, "HEAD"
	if a, b, ok := strings.Cut(arg, ".."); ok {
		from, to = a, b
		if from == "" {
			from = "HEAD"
		}
		if to == "" {
			to = "HEAD"
		}
	}
	gr, err := openGit(st)
	if err != nil {
		return fail(err)
	}
	a, err := commitAt(gr, from)
	if err != nil {
		return fail(err)
	}
	b, err := commitAt(gr, to)
	if err != nil {
		return fail(err)
	}
	files, patch, err := treeDiff(a, b)
	if err != nil {
		return fail(err)
	}
	if g.output != "table" {
		if err := printObject(cmd.OutOrStdout(), g.output, map[string]any{"from": a.Hash.String(), "to": b.Hash.String(), "files": files, "diff": patch}); err != nil {
			return fail(err)
		}
	} else {
		fmt.Fprint(cmd.OutOrStdout(), patch)
	}
	if len(files) > 0 {
		return exitError{code: 1}
	}
	return nil
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
		return nil, fmt.Errorf("%w: revision %q: %v", state.ErrNotFound, rev, err)
	}
	return gr.CommitObject(*h)
}

// treeDiff lists the files that differ from a (nil: nothing) to b, with
// their status (A added, M modified, D deleted), and the unified diff.
func treeDiff(a, b *object.Commit) ([]map[string]any, string, error) {
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
	files := []map[string]any{}
	for _, ch := range changes {
		action, err := ch.Action()
		if err != nil {
			return nil, "", err
		}
		status, path := "M", ch.To.Name
		switch action.String() {
		case "Insert":
			status = "A"
		case "Delete":
			status, path = "D", ch.From.Name
		}
		files = append(files, map[string]any{"path": path, "status": status})
	}
	patch, err := changes.Patch()
	if err != nil {
		return nil, "", err
	}
	return files, patch.String(), nil
}

func shortHashes(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h[:12]
	}
	return out
}
