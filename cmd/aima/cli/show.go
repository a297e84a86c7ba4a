package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/spf13/cobra"
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
			c, err := unit.Show(st, rev)
			if err != nil {
				return err
			}
			parents := c.Parents
			if g.output != "table" {
				m, err := unit.Answer(c)
				if err != nil {
					return err
				}
				return printObject(cmd.OutOrStdout(), g.output, m)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "commit %s\n", c.Hash)
			when, _ := c.When.(time.Time)
			if len(parents) > 1 {
				fmt.Fprintf(w, "Merge: %s\n", strings.Join(shortHashes(parents), " "))
			}
			fmt.Fprintf(w, "Author: %s <%s>\nDate:   %s\n\n", c.Author, c.Email, when.Format("Mon Jan 2 15:04:05 2006 -0700"))
			for _, line := range strings.Split(strings.TrimRight(c.Message, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", line)
			}
			fmt.Fprintln(w)
			for _, f := range c.Files {
				fmt.Fprintf(w, " %s %s\n", f.Status, f.Path)
			}
			if c.Diff != "" {
				fmt.Fprintln(w)
				fmt.Fprint(w, c.Diff)
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
	d, err := unit.Diff(st, from, to)
	if err != nil {
		return fail(err)
	}
	if g.output != "table" {
		m, err := unit.Answer(d)
		if err != nil {
			return fail(err)
		}
		if err := printObject(cmd.OutOrStdout(), g.output, m); err != nil {
			return fail(err)
		}
	} else {
		fmt.Fprint(cmd.OutOrStdout(), d.Diff)
	}
	if len(d.Files) > 0 {
		return exitError{code: 1}
	}
	return nil
}

func shortHashes(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h[:12]
	}
	return out
}
