package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/kube"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/state"
)

// syncer opens the state directory's syncer on the local Docker daemon.
func (g *globals) syncer() (*state.Store, *agent.Syncer, func(), error) {
	st, err := g.store()
	if err != nil {
		return nil, nil, nil, err
	}
	s, rt, err := agent.NewSyncer(st, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return st, s, func() { rt.Close() }, nil
}

func dockerError(err error) error {
	if errors.Is(err, kube.ErrUnreachable) {
		return fmt.Errorf("%v\n(is the cluster up? the kubeconfig and namespace are in .aima/.local/settings.yaml)", err)
	}
	if errors.Is(err, container.ErrUnavailable) {
		return fmt.Errorf("%v\n(is the Docker daemon running? DOCKER_HOST=%s)", err, dockerHost())
	}
	return err
}

func newDiffCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff [REV | REV..REV]",
		Short: "Show what a sync would change in Docker (exit 0 in sync, 1 differences, 2 error)",
		Long: "diff with no argument prints the plan: what a sync would change in Docker.\n" +
			"With REV it prints the file differences from REV to HEAD; with A..B from A to B.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return runRevDiff(cmd, g, args[0])
			}
			// state.diff: the running agent's (it knows the backoffs and
			// holds of its loop), else planned in this process.
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := g.store()
			if err != nil {
				return exitError{code: 2, msg: err.Error()}
			}
			out, ok := agentGet(ctx, st.Dir, "/api/diff")
			if !ok {
				if out, err = callUnit(ctx, g, "state.diff", nil, true); err != nil {
					return exitError{code: 2, msg: err.Error()}
				}
			}
			printDiff(cmd, g, out)
			if inSync, _ := out["in_sync"].(bool); !inSync {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

// printDiff prints state.diff's answer: the plan's text, or the answer.
func printDiff(cmd *cobra.Command, g *globals, out map[string]any) {
	if g.output != "table" {
		_ = printObject(cmd.OutOrStdout(), g.output, out)
		return
	}
	text, _ := out["plan"].(string)
	fmt.Fprint(cmd.OutOrStdout(), text)
	if !strings.HasSuffix(text, "\n") {
		fmt.Fprintln(cmd.OutOrStdout())
	}
}

type syncOptions struct {
	dryRun  bool
	wait    bool
	timeout time.Duration
}

func newSyncCmd(g *globals) *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Converge Docker to the state files now (what the agent does on every change)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.dryRun {
				return newDiffCmd(g).RunE(cmd, nil)
			}
			st, s, done, err := g.syncer()
			if err != nil {
				return err
			}
			defer done()
			if err := recordEdits(cmd, st); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			res, err := s.Pass(ctx)
			if err != nil {
				return dockerError(err)
			}
			for _, op := range res.Plan.Ops {
				obj := agent.Object{Kind: op.Kind, Name: op.Name}
				if e := res.Errors[obj]; e != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s %s failed: %v\n", op.Op, obj, e)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", op.Op, obj, op.Cause)
			}
			for _, h := range res.Plan.Held {
				if h.Why == plan.HoldBackoff {
					fmt.Fprintln(cmd.OutOrStdout(), h)
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), h)
				}
			}
			if res.Plan.Empty() {
				fmt.Fprintln(cmd.OutOrStdout(), "in sync")
			}
			failed := len(res.Errors)
			if o.wait {
				failed = 0
				for _, w := range res.Wanted {
					if !w.Running {
						continue
					}
					remaining := time.Until(deadline(ctx))
					st, err := s.Wait(ctx, w.Object, agent.StatusRunning, remaining)
					if err != nil || st.Status != agent.StatusRunning {
						failed++
						fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s%s\n", w.Object, st.Status, reasonOf(st, err))
					}
				}
			}
			if failed > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("%d object(s) did not converge", failed)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only print the plan (same as aima diff)")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until every running service and app is healthy (or failed)")
	durationVar(cmd.Flags(), &o.timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

// recordEdits commits the edits made to the files by hand (an editor, cp)
// as the agent does when it sees them, before a sync converges to them: a
// service written without a port gets one, and the containers' revision
// label names a commit that has what they run. Invalid files are reported
// and left out; their last committed version stays in effect.
func recordEdits(cmd *cobra.Command, st *state.Store) error {
	rec, err := st.Record(nil)
	if err != nil {
		return err
	}
	for _, p := range rec.Paths {
		if port, ok := rec.Ports[p]; ok {
			fmt.Fprintf(cmd.OutOrStdout(), "commit %s: edited by hand; port %d allocated\n", p, port)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "commit %s: edited by hand\n", p)
	}
	for _, p := range rec.Problems {
		fmt.Fprintf(cmd.ErrOrStderr(), "invalid (not applied; the last committed version stays in effect): %s\n", p)
	}
	return nil
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Hour)
	}
	return d
}

func reasonOf(st agent.Status, err error) string {
	switch {
	case err != nil:
		return ": " + err.Error()
	case st.Reason != "":
		return ": " + st.Reason
	}
	return ""
}

// statuses derives the observed status of every service and app; Docker
// being down gives "unknown" with the reason, not an error. A running agent
// is asked first: it knows what this process cannot see in Docker — why a
// create failed, restart counts, an operation in flight.
func statuses(ctx context.Context, g *globals) map[agent.Object]agent.Status {
	st, err := g.store()
	if err != nil {
		return nil
	}
	if sts, ok := agentStatuses(ctx, st.Dir); ok {
		return sts
	}
	s, rt, err := agent.NewSyncer(st, nil)
	if err != nil {
		return nil
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	sts, _ := s.Statuses(ctx)
	return sts
}

// agentStatuses asks the agent serving dir (.local/agent.json) for every
// object's status; ok is false when no agent answers.
func agentStatuses(ctx context.Context, dir string) (map[agent.Object]agent.Status, bool) {
	m, ok := agentGet(ctx, dir, "/api/status")
	if !ok || m["dir"] != dir {
		return nil, false // another agent on that address, or not one at all
	}
	var doc struct {
		Items []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
			agent.Status
		} `json:"items"`
	}
	if b, err := json.Marshal(m); err != nil || json.Unmarshal(b, &doc) != nil {
		return nil, false
	}
	out := map[agent.Object]agent.Status{}
	for _, it := range doc.Items {
		if it.Status.Status != "" {
			out[agent.Object{Kind: it.Kind, Name: it.Name}] = it.Status
		}
	}
	return out, true
}
