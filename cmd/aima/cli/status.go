package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/state"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the agent, objects per kind, invalid files, the last commit and every service's status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			set, err := st.Settings()
			if err != nil {
				// Nothing can be shown without the instance id, and the
				// agent refuses to start: say so, with every problem.
				return fmt.Errorf("aima.yaml is invalid: aima start refuses it and no status can be shown (fix it; aima validate checks it):\n  %w", fieldError(err))
			}
			out := map[string]any{"dir": st.Dir, "instance": set.Instance}
			addr := set.API
			if info, ok := agent.ReadAgentInfo(st.Dir); ok {
				addr = info.Addr
			}
			out["agent"] = agentState(cmd.Context(), addr)
			follow, following := agent.ReadFollowState(st.Dir)
			if following {
				out["follow"] = follow
			}
			counts := map[string]int{}
			var problems []state.Problem
			for _, k := range state.Kinds {
				entries, err := st.List(k)
				if err != nil {
					return err
				}
				counts[k.Name] = len(entries)
				for _, e := range entries {
					if e.Problem != nil {
						problems = append(problems, e.Problem.Problems...)
					}
				}
			}
			out["objects"] = counts
			out["invalid"] = problems
			if r, err := st.Repo(); err == nil && st.Initialized() {
				if log, err := r.Log("", 1); err == nil && len(log) > 0 {
					out["last_commit"] = map[string]any{"hash": log[0].Hash, "message": log[0].Message, "author": log[0].Author, "when": log[0].When}
				}
			}
			sts := statuses(cmd.Context(), g)
			svc := map[string]any{}
			for _, o := range sortedObjects(sts) {
				svc[o.String()] = sts[o].Map()
			}
			out["services"] = svc
			unmanaged := unmanagedContainers(cmd.Context(), st)
			if unmanaged != nil {
				out["unmanaged"] = unmanaged
			}
			if g.output != "table" {
				return printObject(cmd.OutOrStdout(), g.output, out)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "state directory\t%s (instance %s)\n", st.Dir, set.Instance)
			fmt.Fprintf(w, "agent\t%s\n", out["agent"])
			if following {
				fmt.Fprintf(w, "follow\t%s\n", followLine(follow))
			}
			if lc, ok := out["last_commit"].(map[string]any); ok {
				fmt.Fprintf(w, "last commit\t%.12s %s (%s)\n", lc["hash"], strings.SplitN(lc["message"].(string), "\n", 2)[0], lc["author"])
			}
			var parts []string
			for _, k := range state.Kinds {
				parts = append(parts, fmt.Sprintf("%s %d", k.Dir, counts[k.Name]))
			}
			fmt.Fprintf(w, "objects\t%s\n", strings.Join(parts, ", "))
			fmt.Fprintf(w, "invalid files\t%d\n", len(problems))
			w.Flush()
			for _, p := range problems {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", p)
			}
			if len(sts) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				w = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "OBJECT\tSTATUS\tENDPOINT\tRESTARTS\tREASON")
				for _, o := range sortedObjects(sts) {
					s := sts[o]
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", o, s.Status, cell(s.Endpoint), s.Restarts, cell(s.Reason))
				}
				w.Flush()
			}
			if len(unmanaged) > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
				fmt.Fprintln(cmd.OutOrStdout(), "Unmanaged containers (aima labels, not this instance's: reported, never touched):")
				w = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "CONTAINER\tSTATE\tPORTS\tWHOSE")
				for _, u := range unmanaged {
					var ports []string
					for _, p := range u.Ports {
						ports = append(ports, fmt.Sprint(p.HostPort))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Container, u.State, cell(strings.Join(ports, ",")), u.Reason)
				}
				w.Flush()
			}
			return nil
		},
	}
}

// unmanagedContainers lists the containers with aima labels that are not
// this instance's (nil when Docker cannot be asked: the statuses say why).
func unmanagedContainers(ctx context.Context, st *state.Store) []agent.Unmanaged {
	s, rt, err := agent.NewSyncer(st, nil)
	if err != nil {
		return nil
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	list, err := s.Unmanaged(ctx)
	if err != nil {
		return nil
	}
	return list
}

// agentState says whether an agent answers on addr.
func agentState(ctx context.Context, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "not running (aima start)"
	}
	resp.Body.Close()
	return "running on " + addr
}

// followLine summarises what the agent's follower last did.
func followLine(f agent.FollowState) string {
	line := f.Source
	if f.VerifySignatures {
		line += " (signatures verified)"
	}
	if f.Applied != "" {
		line += fmt.Sprintf(" at %.12s (applied %s)", f.Applied, f.AppliedAt.Local().Format("2006-01-02 15:04:05"))
	} else {
		line += " (nothing applied yet)"
	}
	if f.LastError != "" {
		line += fmt.Sprintf("; last attempt %s failed: %s", f.LastAttempt.Local().Format("15:04:05"), f.LastError)
	}
	return line
}
