package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/state"
)

// SetState sets the desired state of a service or app ("running" or
// "stopped") in its file and commits it as "<kind> start|stop: <name>".
// Setting the state it already has commits nothing.
func SetState(st *state.Store, k *state.Kind, name, want string) (state.Entry, error) {
	verb := "start"
	if want == "stopped" {
		verb = "stop"
	}
	e, err := st.Get(k, name)
	if err != nil {
		return e, err
	}
	cur := ""
	switch o := e.Object.(type) {
	case *state.Service:
		cur = o.State
	case *state.App:
		cur = o.State
	default:
		return e, fmt.Errorf("%w: %s has no state", state.ErrInvalid, k.Name)
	}
	if cur == want || (cur == "" && want == "running") {
		return e, nil
	}
	return st.UpdateMessage(k, name, "", fmt.Sprintf("%s %s: %s", k.Name, verb, name), func(o state.Object) (state.Object, error) {
		switch o := o.(type) {
		case *state.Service:
			o.State = want
		case *state.App:
			o.State = want
		}
		return o, nil
	})
}

// Settled reports whether a status is final for someone waiting for want
// ("running" or "stopped"): the wanted status, or a failure.
func Settled(st Status, want string) bool {
	switch st.Status {
	case want, StatusFailed, StatusUnhealthy:
		return true
	}
	return false
}

// Wait polls the object's status until it settles or the timeout passes.
func (s *Syncer) Wait(ctx context.Context, obj Object, want string, timeout time.Duration) (Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		sts, err := s.Statuses(ctx)
		if err != nil {
			return Status{}, err
		}
		st := sts[obj]
		if Settled(st, want) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s is %s after %s (wanted %s)%s: %w", obj, st.Status, timeout, want, reasonSuffix(st), state.ErrTimeout)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func reasonSuffix(st Status) string {
	if st.Reason == "" {
		return ""
	}
	return ": " + st.Reason
}

func planJSON(res Result) map[string]any {
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
	return map[string]any{"in_sync": res.Plan.Empty(), "plan": res.Plan.String(), "items": ops, "total": len(ops), "held": held}
}

func unavailable(err error) error {
	if errors.Is(err, errUnavailable) {
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return err
}

var errUnavailable = container.ErrUnavailable

// Logs writes the output of the object's own container (and no other).
func (s *Syncer) Logs(ctx context.Context, obj Object, tail int, follow bool, w io.Writer) error {
	if err := state.CheckName("id", obj.Name); err != nil {
		return err
	}
	k, err := state.LookupKind(obj.Kind)
	if err != nil {
		return err
	}
	if _, err := s.Store.Get(k, obj.Name); err != nil {
		return err
	}
	obs, err := observe(ctx, s.Runtime, s.Instance)
	if err != nil {
		return err
	}
	c, ok := obs.find(obj)
	if !ok {
		return fmt.Errorf("%s has no container (status: aima %s get %s): %w", obj, obj.Kind, obj.Name, state.ErrNotFound)
	}
	return s.Runtime.Logs(ctx, c.ID, tail, follow, w)
}
