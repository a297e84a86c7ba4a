package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/state"
)

// hasContainers reports whether objects of the kind become containers (and
// so have an observed status).
func hasContainers(k *state.Kind) bool { return k == state.KindService || k == state.KindApp }

type stateOptions struct {
	wait    bool
	timeout time.Duration
	force   bool // service start: past the fit check
}

// newStateCmd is `service start|stop NAME`: set the desired state in the
// file (one commit), converge now, and report the outcome.
func newStateCmd(g *globals, k *state.Kind, want string) *cobra.Command {
	verb := "start"
	short := fmt.Sprintf("Set a %s's state to running (commit), converge it, and report its status", k.Name)
	if want == "stopped" {
		verb = "stop"
		short = fmt.Sprintf("Set a %s's state to stopped (commit) and remove its container; works in every state", k.Name)
	}
	o := &stateOptions{}
	cmd := &cobra.Command{
		Use:               verb + " NAME",
		Short:             short,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			// The unit k.start|stop: the file, one commit, this object
			// converged (only it: the rest is the agent's or aima sync's),
			// and with --wait (always for stop) until it settles.
			p := map[string]any{"id": args[0], "wait": o.wait || want == "stopped", "timeout": o.timeout.String()}
			if o.force {
				p["force"] = true
			}
			if o.wait && want == "running" && g.output == "table" {
				// What it waits for, as it changes (a model pull's progress).
				ctx = agent.WithProgress(ctx, func(st agent.Status) {
					if st.Status != agent.StatusRunning && st.Reason != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s/%s: %s: %s\n", k.Name, args[0], st.Status, st.Reason)
					}
				})
			}
			out, err := callUnit(ctx, g, k.Name+"."+verb, p, true)
			if err != nil {
				return unitError(cmd, err)
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			status, _ := out["status"].(string)
			reason := ""
			if r, _ := out["reason"].(string); r != "" {
				reason = ": " + r
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %s%s\n", k.Name, args[0], status, reason)
			if status == agent.StatusFailed || status == agent.StatusUnhealthy {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until it is running (or stopped), or has failed")
	durationVar(cmd.Flags(), &o.timeout, "timeout", 2*time.Minute, "give up after this long")
	if k == state.KindService && want == "running" {
		cmd.Flags().BoolVar(&o.force, "force", false, "start even when the model does not fit this machine's free memory (the fit check)")
	}
	return cmd
}

func newLogsCmd(g *globals, k *state.Kind) *cobra.Command {
	var tail, replica int
	var follow bool
	cmd := &cobra.Command{
		Use:               "logs NAME",
		Short:             fmt.Sprintf("Show the output of the %s's own container", k.Name),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, done, err := g.syncer()
			if err != nil {
				return err
			}
			defer done()
			if replica < 1 {
				return flagError(cmd, fmt.Errorf("--replica: %d: replicas are numbered from 1", replica))
			}
			err = s.ReplicaLogs(cmd.Context(), agent.Object{Kind: k.Name, Name: args[0]}, replica, tail, follow, cmd.OutOrStdout())
			return dockerError(err)
		},
	}
	cmd.Flags().IntVarP(&tail, "tail", "n", 0, "only the last N lines")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming")
	cmd.Flags().IntVar(&replica, "replica", 1, "which replica of a service of several (aima-<instance>-NAME_N)")
	return cmd
}

func newRenderCmd(g *globals, k *state.Kind) *cobra.Command {
	return &cobra.Command{
		Use:   "render NAME",
		Short: fmt.Sprintf("Print the exact container create request of the %s (Docker's Config, HostConfig, NetworkingConfig; one per replica)", k.Name),
		Long: fmt.Sprintf("render prints what aima would send Docker to create the %s's container(s) now —\n"+
			"what `aima diff` compares with the running ones — in Docker's API shapes. Secret\n"+
			"environment values are shown as their references (${env:HF_TOKEN}). JSON by default;\n"+
			"-o yaml for YAML.", k.Name),
		Example:           fmt.Sprintf("  aima %s render qwen\n  aima %s render qwen -o json | jq '.containers[0].HostConfig.IpcMode'", k.Name, k.Name),
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames(g, k),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := callUnit(cmd.Context(), g, k.Name+".render", map[string]any{"id": args[0]}, true)
			if err != nil {
				return err
			}
			format := g.output
			if format == "table" {
				format = "json"
			}
			return printObject(cmd.OutOrStdout(), format, out)
		},
	}
}
