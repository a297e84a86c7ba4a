package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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
			return st, fmt.Errorf("%s is %s after %s (wanted %s)%s", obj, st.Status, timeout, want, reasonSuffix(st))
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

// Verbs are the agent's domain verbs for the API: service and app
// start/stop/logs, diff and sync.
func Verbs(st *state.Store, s *Syncer, kick func()) map[string]api.Verb {
	v := map[string]api.Verb{}
	read := func(key string, h http.HandlerFunc) { v[key] = api.Verb{Read: true, Handle: h} }
	write := func(key string, h http.HandlerFunc) { v[key] = api.Verb{Handle: h} }
	for _, k := range []*state.Kind{state.KindService, state.KindApp} {
		for _, want := range []string{"running", "stopped"} {
			verb := "start"
			if want == "stopped" {
				verb = "stop"
			}
			write(k.Name+"/"+verb, func(w http.ResponseWriter, r *http.Request) {
				id, wait, timeout := verbArgs(r)
				if id == "" {
					api.WriteError(w, fmt.Errorf("%w: id: required", state.ErrInvalid))
					return
				}
				e, err := SetState(st.For(r.Context()), k, id, want)
				if err != nil {
					api.WriteError(w, err)
					return
				}
				kick()
				out := e.Map()
				obj := Object{k.Name, id}
				if wait {
					status, err := s.Wait(r.Context(), obj, want, timeout)
					for key, val := range status.Map() {
						out[key] = val
					}
					if err != nil {
						out["error"] = err.Error()
					}
				} else if sts, err := s.Statuses(r.Context()); err == nil {
					for key, val := range sts[obj].Map() {
						out[key] = val
					}
				}
				api.WriteJSON(w, http.StatusOK, out)
			})
		}
		read(k.Name+"/logs", func(w http.ResponseWriter, r *http.Request) {
			id, _, _ := verbArgs(r)
			tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
			var b strings.Builder
			if err := s.Logs(r.Context(), Object{k.Name, id}, tail, false, &b); err != nil {
				api.WriteError(w, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "logs": b.String()})
		})
	}
	read("resource/status", func(w http.ResponseWriter, r *http.Request) {
		slots, err := s.Budgets(r.Context())
		if err != nil {
			api.WriteError(w, unavailable(err))
			return
		}
		items := []map[string]any{}
		for _, u := range slots {
			items = append(items, map[string]any{"id": u.Name, "name": u.Name, "type": u.Type, "limit": u.Limit, "used": u.Used, "services": u.Services, "refused": u.Refused})
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	})
	read("diff", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.Plan(r.Context())
		if err != nil {
			api.WriteError(w, unavailable(err))
			return
		}
		api.WriteJSON(w, http.StatusOK, planJSON(res))
	})
	write("sync", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.Pass(r.Context())
		if err != nil {
			api.WriteError(w, unavailable(err))
			return
		}
		out := planJSON(res)
		errs := map[string]string{}
		for o, e := range res.Errors {
			errs[o.String()] = e.Error()
		}
		out["errors"] = errs
		api.WriteJSON(w, http.StatusOK, out)
	})
	return v
}

func planJSON(res Result) map[string]any {
	ops := []map[string]any{}
	for _, op := range res.Plan.Ops {
		ops = append(ops, map[string]any{"op": op.Op.String(), "kind": op.Kind, "name": op.Name, "container": op.Container, "cause": op.Cause, "changed": op.Changed})
	}
	return map[string]any{"in_sync": res.Plan.Empty(), "plan": res.Plan.String(), "items": ops, "total": len(ops)}
}

func unavailable(err error) error {
	if errors.Is(err, errUnavailable) {
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return err
}

// verbArgs reads id (or name), wait and timeout from the query or a JSON body.
func verbArgs(r *http.Request) (id string, wait bool, timeout time.Duration) {
	q := r.URL.Query()
	id = q.Get("id")
	if id == "" {
		id = q.Get("name")
	}
	wait = q.Get("wait") == "true"
	timeout = 60 * time.Second
	if d, err := time.ParseDuration(q.Get("timeout")); err == nil {
		timeout = d
	}
	if r.Method == http.MethodPost && r.Body != nil {
		var body struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Wait    bool   `json:"wait"`
			Timeout string `json:"timeout"`
		}
		if err := decodeJSON(r, &body); err == nil {
			if body.ID != "" {
				id = body.ID
			} else if body.Name != "" {
				id = body.Name
			}
			wait = wait || body.Wait
			if d, err := time.ParseDuration(body.Timeout); err == nil {
				timeout = d
			}
		}
	}
	return id, wait, timeout
}

var errUnavailable = container.ErrUnavailable

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, api.MaxBody))
	return dec.Decode(v)
}

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
