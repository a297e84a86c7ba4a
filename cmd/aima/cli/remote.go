package cli

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

func newRemoteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remote",
		Short: "Manage the git remotes of the state directory (push, pull and --follow use them)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add NAME URL",
		Short: "Add a remote: file://, http(s)://, ssh:// or user@host:path",
		Long: "add records the remote in .git/config (never committed). Credentials come from the\n" +
			"environment when pushing and pulling, not from the URL: AIMA_GIT_TOKEN (or\n" +
			"AIMA_GIT_USERNAME + AIMA_GIT_PASSWORD) for http(s), the SSH agent or AIMA_GIT_SSH_KEY for ssh.",
		Example: "  aima remote add origin https://git.example.com/ops/aima-state.git",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			if err := st.AddRemote(args[0], args[1]); err != nil {
				return err
			}
			if u, err := url.Parse(args[1]); err == nil && u.User != nil {
				if _, ok := u.User.Password(); ok {
					fmt.Fprintln(cmd.ErrOrStderr(), "aima: warning: the URL holds a password; it is kept in .git/config (not committed). Prefer AIMA_GIT_TOKEN.")
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "remote %s added\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the remotes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			rms, err := st.Remotes()
			if err != nil {
				return err
			}
			items := make([]map[string]any, len(rms))
			for i, r := range rms {
				items[i] = map[string]any{"id": r.Name, "name": r.Name, "url": r.URL}
			}
			return printList(cmd.OutOrStdout(), g.output, items, []string{"name", "url"})
		},
	})
	return cmd
}
