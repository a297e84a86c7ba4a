package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/state"
)

func newInitCmd(g *globals) *cobra.Command {
	var from, branch, host string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the state directory: a git repository with aima.yaml and .gitignore",
		Long: "init creates the state directory. With --from URL it clones a shared state repository\n" +
			"instead (origin = URL), validating it like aima pull does. This machine then gets its own\n" +
			"instance id in .local/instance (never committed), which takes precedence over aima.yaml's\n" +
			"instance, so machines following one repository never manage each other's containers.",
		Example: "  aima init\n  aima init --from https://git.example.com/ops/aima-state.git",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			if host != "" {
				if err := state.CheckName("host", host); err != nil {
					return flagError(cmd, err)
				}
			}
			// This machine's host of a fleet, once the directory (and
			// .local/ with it) exists.
			setHost := func() error {
				if host == "" {
					return nil
				}
				if err := st.SetLocalHost(host); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "this machine is host %s (.local/settings.yaml)\n", host)
				return nil
			}
			if from != "" {
				res, err := st.InitFrom(cmd.Context(), from, branch)
				if err != nil {
					return err
				}
				if err := st.WriteSchemas(); err != nil { // for editors: never committed, so not in the clone
					return err
				}
				set, err := st.Settings()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "initialised %s from %s at %.12s (instance %s)\n", st.Dir, res.Source, res.Head, set.Instance)
				return setHost()
			}
			if branch != "" {
				return fmt.Errorf("--branch needs --from")
			}
			created, err := st.Init()
			if err != nil {
				return err
			}
			if !created {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is already a state directory\n", st.Dir)
				return setHost()
			}
			set, err := st.Settings()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised %s (instance %s)\n", st.Dir, set.Instance)
			return setHost()
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "clone the state from this git URL (file://, http(s)://, ssh://)")
	cmd.Flags().StringVar(&host, "host", "", "which host of a fleet this machine is (hosts/NAME.yaml; kept in .local/settings.yaml, never committed)")
	cmd.Flags().StringVar(&branch, "branch", "", "with --from: the branch to check out (default: the remote's default branch)")
	return cmd
}
