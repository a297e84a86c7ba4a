package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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

// Wait polls the object's status until it settles or the timeout (or ctx's
// deadline, when earlier) passes. Expiry is an error wrapping
// state.ErrTimeout that names the object, the status it was last seen in
// and why (its reason, or its failing health check), never a bare
// "context deadline exceeded".
func (s *Syncer) Wait(ctx context.Context, obj Object, want string, timeout time.Duration) (Status, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var last Status
	expired := func() error {
		what := "has no status"
		if last.Status != "" {
			what = "is " + last.Status
		}
		why := reasonSuffix(last)
		if why == "" && strings.HasPrefix(last.Health, "failing") {
			why = ": health check " + last.Health
		}
		waited := time.Since(start).Round(100 * time.Millisecond)
		if waited >= time.Second {
			waited = waited.Round(time.Second)
		}
		return fmt.Errorf("%s %s after %s (wanted %s)%s: %w", obj, what, waited, want, why, state.ErrTimeout)
	}
	for {
		// A look at Docker is cut off at the deadline: what it last saw is
		// what the expiry names.
		lctx, cancel := context.WithDeadline(ctx, deadline)
		sts, err := s.Statuses(lctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !time.Now().Before(deadline):
			return last, expired()
		case err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return last, expired()
		case err != nil:
			return last, fmt.Errorf("%s: waiting until %s: %w", obj, want, err)
		}
		prev := last
		last = sts[obj]
		if f, ok := ctx.Value(progressKey{}).(func(Status)); ok && (last.Status != prev.Status || last.Reason != prev.Reason) {
			f(last)
		}
		if Settled(last, want) {
			return last, nil
		}
		if !time.Now().Before(deadline) {
			return last, expired()
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return last, expired()
			}
			return last, fmt.Errorf("%s: waiting until %s: %w", obj, want, ctx.Err())
		case <-time.After(min(200*time.Millisecond, time.Until(deadline))):
		}
	}
}

type progressKey struct{}

// WithProgress returns ctx carrying f, which Wait calls with the object's
// status each time its status or reason changes (a model being pulled:
// "starting: pulling qwen2.5:7b: 41% of 4.7 GB").
func WithProgress(ctx context.Context, f func(Status)) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

func reasonSuffix(st Status) string {
	if st.Reason == "" {
		return ""
	}
	return ": " + st.Reason
}

// Logs writes the output of the object's own container (and no other):
// its first replica's.
func (s *Syncer) Logs(ctx context.Context, obj Object, tail int, follow bool, w io.Writer) error {
	return s.ReplicaLogs(ctx, obj, 1, tail, follow, w)
}

// ReplicaLogs is Logs of replica n (from 1) of a service of several.
func (s *Syncer) ReplicaLogs(ctx context.Context, obj Object, n, tail int, follow bool, w io.Writer) error {
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
	c, ok := obs.findReplica(obj, n)
	if !ok {
		if n > 1 {
			return fmt.Errorf("%s has no replica %d container (status: aima %s get %s): %w", obj, n, obj.Kind, obj.Name, state.ErrNotFound)
		}
		return fmt.Errorf("%s has no container (status: aima %s get %s): %w", obj, obj.Kind, obj.Name, state.ErrNotFound)
	}
	return s.Runtime.Logs(ctx, c.ID, tail, follow, w)
}
