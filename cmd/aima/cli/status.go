package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

func newStatusCmd(g *globals) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent, objects per kind, invalid files, the last commit and every service's status",
		Long: "status shows the agent, the objects per kind, the invalid files, the last commit and\n" +
			"every service's and app's observed status. With --watch it then prints, as they\n" +
			"happen, what the running agent's event stream (GET /api/events) says: status\n" +
			"changes, commits, sync passes that did something, alerts (-o json: one event a line).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.store()
			if err != nil {
				return err
			}
			if _, err := st.Settings(); err != nil {
				// Nothing can be shown without the instance id, and the
				// agent refuses to start: say so, with every problem.
				return fmt.Errorf("aima.yaml is invalid: aima start refuses it and no status can be shown (fix it; aima validate checks it):\n  %w", fieldError(err))
			}
			doc, err := statusDoc(cmd.Context(), g, st)
			if err != nil {
				return err
			}
			if g.output != "table" {
				err = printObject(cmd.OutOrStdout(), g.output, doc)
			} else {
				err = printStatus(cmd, doc)
			}
			if err != nil || !watch {
				return err
			}
			return watchEvents(cmd.Context(), st.Dir, g.output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "then print the agent's events as they happen (until interrupted)")
	return cmd
}

// statusDoc is state.status's answer: the running agent's (GET
// /api/status, so `aima status -o json` is its body) when one answers for
// this directory, else the unit's in this process.
func statusDoc(ctx context.Context, g *globals, st *state.Store) (map[string]any, error) {
	if doc, ok := agentGet(ctx, st.Dir, "/api/status"); ok && doc["dir"] == st.Dir {
		return doc, nil
	}
	env := daemon.UnitEnv(st, nil, nil)
	env.Observed = func(ctx context.Context) func(kind, name string) map[string]any {
		sts := statuses(ctx, g)
		return func(kind, name string) map[string]any {
			if s, ok := sts[agent.Object{Kind: kind, Name: name}]; ok {
				return s.Map()
			}
			return nil
		}
	}
	env.Unmanaged = func(ctx context.Context) (any, error) {
		u := unmanagedContainers(ctx, st)
		if u == nil {
			return nil, fmt.Errorf("docker unreachable")
		}
		return u, nil
	}
	env.Extra = func() map[string]any {
		m := map[string]any{"agent": "not running (aima start)"}
		if f, ok := daemon.ReadFollowState(st.Dir); ok {
			m["follow"] = f
		}
		return m
	}
	return unit.Default.Call(ctx, env, "state.status", nil)
}

// agentGet is the answer of GET path from the agent serving dir (its
// .local/agent.json, with the owner's token); ok is false when none answers.
func agentGet(ctx context.Context, dir, path string) (map[string]any, bool) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	resp, _, err := agentRequest(ctx, dir, http.MethodGet, path, nil)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var doc map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil {
		return nil, false // another agent on that address (our token refused), or not one at all
	}
	return doc, true
}

// printStatus renders state.status's answer as a table.
func printStatus(cmd *cobra.Command, doc map[string]any) error {
	// As JSON carries it, whether it came from the agent or this process.
	if b, err := json.Marshal(doc); err == nil {
		_ = json.Unmarshal(b, &doc)
	}
	out := cmd.OutOrStdout()
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "state directory\t%s (instance %s)\n", doc["dir"], doc["instance"])
	fmt.Fprintf(w, "agent\t%s\n", doc["agent"])
	if f, ok := doc["follow"]; ok {
		var fs daemon.FollowState
		if b, err := json.Marshal(f); err == nil && json.Unmarshal(b, &fs) == nil {
			fmt.Fprintf(w, "follow\t%s\n", followLine(fs))
		}
	}
	if lc, ok := doc["last_commit"].(map[string]any); ok {
		msg, _ := lc["message"].(string)
		fmt.Fprintf(w, "last commit\t%.12s %s (%s)\n", lc["hash"], strings.SplitN(msg, "\n", 2)[0], lc["author"])
	}
	counts, _ := doc["kinds"].(map[string]any)
	var parts []string
	for _, k := range state.Kinds {
		parts = append(parts, fmt.Sprintf("%s %v", k.Dir, counts[k.Name]))
	}
	fmt.Fprintf(w, "objects\t%s\n", strings.Join(parts, ", "))
	probs := asList(doc["problems"])
	fmt.Fprintf(w, "invalid files\t%v\n", doc["invalid"])
	w.Flush()
	for _, p := range probs {
		var pr state.Problem
		if b, err := json.Marshal(p); err == nil && json.Unmarshal(b, &pr) == nil {
			fmt.Fprintf(out, "  %s\n", pr)
		}
	}
	var rows []map[string]any
	for _, it := range asList(doc["items"]) {
		if m, ok := it.(map[string]any); ok && m["status"] != nil {
			rows = append(rows, m)
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(out)
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "OBJECT\tSTATUS\tENDPOINT\tRESTARTS\tREASON")
		for _, m := range rows {
			restarts := m["restarts"]
			if restarts == nil {
				restarts = 0
			}
			status := fmt.Sprint(m["status"])
			if ready, ok := m["ready"].(string); ok { // a service of several replicas: "running 2/2"
				status += " " + ready
			}
			fmt.Fprintf(w, "%s/%s\t%s\t%s\t%v\t%s\n", m["kind"], m["name"], status, cell(m["endpoint"]), restarts, cell(m["reason"]))
		}
		w.Flush()
	}
	if um := asList(doc["unmanaged"]); len(um) > 0 {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "Unmanaged containers (aima labels, not this instance's: reported, never touched):")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CONTAINER\tSTATE\tPORTS\tWHOSE")
		for _, x := range um {
			var u agent.Unmanaged
			if b, err := json.Marshal(x); err != nil || json.Unmarshal(b, &u) != nil {
				continue
			}
			var ports []string
			for _, p := range u.Ports {
				ports = append(ports, fmt.Sprint(p.HostPort))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Container, u.State, cell(strings.Join(ports, ",")), u.Reason)
		}
		w.Flush()
	}
	return nil
}

// asList is v as a JSON list (typed or decoded).
func asList(v any) []any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out []any
	_ = json.Unmarshal(b, &out)
	return out
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

// followLine summarises what the agent's follower last did.
func followLine(f daemon.FollowState) string {
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
