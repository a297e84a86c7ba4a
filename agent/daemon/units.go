package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/alert"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/agent/operator"
	"github.com/aima-dev/aima/agent/pipeline"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// UnitEnv is the environment of the units (package unit) for a store and
// its syncer. With kick (the agent) a change only requests a pass of the
// loop; without (the CLI) it runs one. Its pipelines run in this process.
func UnitEnv(st *state.Store, s *agent.Syncer, kick func()) *unit.Env {
	// Alerts as the agent recorded them under .local/alerts/ (the agent
	// replaces this with its live engine).
	env := &unit.Env{Store: st, Kick: kick, Alerts: alertUnits{&alert.Engine{Store: st}}}
	if s != nil {
		env.Services = unitServices{s: s, kick: kick}
		env.Observed = s.Observed
		env.Unmanaged = func(ctx context.Context) (any, error) { return s.Unmanaged(ctx) }
	}
	pipeline.New(env, unit.Default).Log = logOf(s)
	env.Operator = operator.New(operator.Options{Env: env})
	return env
}

func logOf(s *agent.Syncer) *slog.Logger {
	if s == nil {
		return nil
	}
	return s.Log
}

// unitServices is unit.Services on a Syncer.
type unitServices struct {
	s    *agent.Syncer
	kick func()
	// beforeSync, when set, runs first on state.sync (a follower fetches
	// and applies its remote).
	beforeSync func(ctx context.Context)
}

func (u unitServices) Logs(ctx context.Context, kind, name string, replica, tail int) (string, error) {
	var b strings.Builder
	err := u.s.ReplicaLogs(ctx, agent.Object{Kind: kind, Name: name}, replica, tail, false, &b)
	return b.String(), err
}

func (u unitServices) Render(ctx context.Context, kind, name string) ([]any, error) {
	specs, err := u.s.RenderObject(agent.Object{Kind: kind, Name: name})
	if err != nil {
		return nil, err
	}
	// Docker's create request, or what another runtime makes of a spec
	// (Kubernetes: a Deployment and a Service).
	render := func(spec container.Spec) (any, error) { return docker.Render(spec) }
	if r, ok := u.s.Runtime.(interface {
		RenderSpec(container.Spec) (any, error)
	}); ok {
		render = r.RenderSpec
	}
	out := make([]any, 0, len(specs))
	for _, spec := range specs {
		cfg, err := render(spec)
		if err != nil {
			return nil, err
		}
		out = append(out, cfg)
	}
	return out, nil
}

func (u unitServices) Resources(ctx context.Context) ([]map[string]any, error) {
	slots, err := u.s.Budgets(ctx)
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, b := range slots {
		items = append(items, map[string]any{"id": b.Name, "name": b.Name, "type": b.Type, "limit": b.Limit, "used": b.Used, "services": b.Services, "refused": b.Refused})
	}
	return items, nil
}

func (u unitServices) Plan(ctx context.Context) (map[string]any, error) {
	res, err := u.s.Plan(ctx)
	if err != nil {
		return nil, err
	}
	return planJSON(res), nil
}

func (u unitServices) Sync(ctx context.Context) (map[string]any, error) {
	if u.beforeSync != nil {
		u.beforeSync(ctx)
	}
	res, err := u.s.Pass(ctx)
	if err != nil {
		return nil, err
	}
	out := planJSON(res)
	errs := map[string]string{}
	for o, e := range res.Errors {
		errs[o.String()] = e.Error()
	}
	out["errors"] = errs
	return out, nil
}

func (u unitServices) SetState(ctx context.Context, kind, name, want string) error {
	k, err := state.LookupKind(kind)
	if err != nil {
		return err
	}
	_, err = agent.SetState(u.s.Store.For(ctx), k, name, want)
	return err
}

func (u unitServices) Converge(ctx context.Context, kind, name string) error {
	if u.kick != nil {
		u.kick()
		return nil
	}
	obj := agent.Object{Kind: kind, Name: name}
	res, err := u.s.PassOf(ctx, obj)
	if err != nil {
		return err
	}
	if e := res.Errors[obj]; e != nil {
		return fmt.Errorf("%s: %w", obj, e)
	}
	return nil
}

func (u unitServices) Status(ctx context.Context, kind, name string) (map[string]any, error) {
	sts, err := u.s.Statuses(ctx)
	if err != nil && sts == nil {
		return map[string]any{"status": agent.StatusUnknown, "reason": err.Error()}, err
	}
	st, ok := sts[agent.Object{Kind: kind, Name: name}]
	if !ok {
		return map[string]any{}, nil
	}
	return st.Map(), nil
}

func (u unitServices) Wait(ctx context.Context, kind, name, want string, timeout time.Duration) (map[string]any, error) {
	st, err := u.s.Wait(ctx, agent.Object{Kind: kind, Name: name}, want, timeout)
	if err != nil {
		return st.Map(), err // it names the object, its status and why
	}
	return st.Map(), nil
}

func (u unitServices) Route(ctx context.Context, model string) (string, error) {
	return u.s.Route(ctx, model)
}

// planJSON is state.diff's answer for a plan.
func planJSON(res agent.Result) map[string]any {
	ops := []map[string]any{}
	for _, op := range res.Plan.Ops {
		ops = append(ops, map[string]any{"op": op.Op.String(), "kind": op.Kind, "name": op.Name, "container": op.Container, "cause": op.Cause, "changed": op.Changed})
	}
	held := []map[string]any{}
	for _, h := range res.Plan.Held {
		m := map[string]any{"kind": h.Kind, "name": h.Name, "cause": h.Cause}
		if !h.Retry.IsZero() {
			m["retry_at"] = h.Retry.UTC().Format(time.RFC3339)
		}
		held = append(held, m)
	}
	// On a host of a fleet, what is placed on other hosts is not this
	// host's plan: counted, not listed.
	elsewhere := 0
	for _, w := range res.Wanted {
		if w.Elsewhere != "" {
			elsewhere++
		}
	}
	text := res.Plan.String()
	if elsewhere > 0 {
		text += fmt.Sprintf("(%d service(s) and app(s) placed on other hosts: not this one's to run)\n", elsewhere)
	}
	return map[string]any{"in_sync": res.Plan.Empty(), "plan": text, "items": ops, "total": len(ops), "held": held, "elsewhere": elsewhere}
}
