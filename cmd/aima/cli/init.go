package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the state directory: a git repository with aima.yaml and .gitignore",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			created, err := st.Init()
			if err != nil {
				return err
			}
			if !created {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is already a state directory\n", st.Dir)
				return nil
			}
			set, err := st.Settings()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised %s (instance %s)\n", st.Dir, set.Instance)
			return nil
		},
	}
}
