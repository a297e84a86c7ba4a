package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

func newPullCmd(g *globals) *cobra.Command {
	var opts state.PullOptions
	cmd := &cobra.Command{
		Use:   "pull [REMOTE] [BRANCH]",
		Short: "Fetch a remote branch (default origin, this branch), validate it and apply it",
		Long: "pull fetches, validates every changed file of the incoming revision and applies it:\n" +
			"a fast-forward when possible, else a merge commit when the two sides changed different\n" +
			"files. A revision with an invalid file is refused (exit 4) and the state stays at its last\n" +
			"good revision. A file changed differently on both sides is a conflict (exit 3): nothing is\n" +
			"applied and the local file is kept, unless --resolve ours|theirs settles it. No local\n" +
			"commit is ever lost. The agent sees the changed files and converges the containers.\n\n" +
			"What a remote may not do (each refused with exit 4): files that break .local/policy.yaml (host\n" +
			"mounts, ${env:} names, images); an aima.yaml that changes api, port_range or host_ip (unless\n" +
			"pulled_settings: true there); rewritten history, where the remote branch no longer contains the\n" +
			"revision pulled before (a force-push), unless --allow-rewrite. With --verify-signatures the\n" +
			"incoming tip commit must be signed by an OpenPGP key in .aima/.local/trusted-keys/.",
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			res, err := st.Pull(cmd.Context(), argAt(args, 0), argAt(args, 1), opts)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return printAnswer(cmd, g, unit.PullAnswer(res))
			}
			printPull(cmd, res)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Resolve, "resolve", "", "settle files changed on both sides: ours (keep the local file) or theirs")
	cmd.Flags().BoolVar(&opts.VerifySignatures, "verify-signatures", false, "apply only if the incoming tip commit is signed by an OpenPGP key in .aima/.local/trusted-keys/ (*.asc, *.gpg, *.pub)")
	cmd.Flags().BoolVar(&opts.AllowRewrite, "allow-rewrite", false, "accept a force-pushed remote branch whose history no longer contains the revision pulled before")
	return cmd
}

func printPull(cmd *cobra.Command, res state.PullResult) {
	w := cmd.OutOrStdout()
	switch res.Outcome {
	case state.PullUpToDate:
		fmt.Fprintf(w, "already up to date with %s (%.12s)\n", res.Source, res.Incoming)
	case state.PullAhead:
		fmt.Fprintf(w, "%s (%.12s) is already included; this state is ahead (aima push sends it)\n", res.Source, res.Incoming)
	case state.PullFastForward:
		fmt.Fprintf(w, "fast-forward %.12s..%.12s from %s\n", res.Before, res.Head, res.Source)
	case state.PullMerge:
		fmt.Fprintf(w, "merged %s (%.12s) as %.12s\n", res.Source, res.Incoming, res.Head)
	}
	for _, p := range res.Paths {
		fmt.Fprintf(w, "  %s\n", p)
	}
	for _, p := range res.Kept {
		fmt.Fprintf(w, "  %s (kept local)\n", p)
	}
}
