// Package unit is the one registry of named operations ("model.list",
// "service.start", "catalog.match", "pipeline.run", ...) that the command
// line, the HTTP API and pipeline steps all call, so each verb exists once.
//
// A unit takes a map of parameters and answers a map (a list answers
// {"items": [...], "total": N}). Units change state only through
// state.Store (files and commits) and reach containers only through the
// Services interface, which the agent package implements; this package
// must not import the agent package.
package unit

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/state"
)

// Unit is one named operation.
type Unit struct {
	Name        string
	Description string
	// Params documents the parameters, "name" → what it is.
	Params map[string]string
	// Read is true when the unit changes nothing (no file, no container):
	// the HTTP API serves it at GET; any other unit is POST only.
	Read bool
	// Request and Response are the Go types of the parameters and of the
	// answer (see Typed); their JSON Schemas document the unit. Nil: an
	// object of any fields.
	Request, Response reflect.Type
	// RequestSchema, when set, documents the request instead of Request's
	// schema (an update is a merge patch: only name is required).
	RequestSchema *jsonschema.Schema
	Run           func(ctx context.Context, env *Env, params map[string]any) (map[string]any, error)
}

// Env is what units act on.
type Env struct {
	Store *state.Store
	// Services reaches the containers; nil where there is no Docker (units
	// that need it then fail with a clear error).
	Services Services
	// Pipelines runs pipelines; set by agent/pipeline.
	Pipelines Pipelines
	// Kick, when set, asks the sync loop for a pass after a write.
	Kick func()
	// Observed, when set, derives the observed fields of every service and
	// app at once and returns a lookup (status, reason, endpoint, ...);
	// without it list and get ask Services object by object.
	Observed func(ctx context.Context) func(kind, name string) map[string]any
	// Unmanaged, when set, lists the containers with aima labels that are
	// not this instance's (state.status shows them as "unmanaged").
	Unmanaged func(ctx context.Context) (any, error)
	// Alerts reaches the alert engine (alert.active, alert.history).
	Alerts Alerts
	// Problems, when set, lists the invalid files the agent knows of
	// (state.status); else they are found by listing the store.
	Problems func() []state.Problem
	// Extra adds fields to state.status (the follower's state).
	Extra func() map[string]any
	// Version is shown by state.status.
	Version string
	// Operator reaches the operator's conversations (the agent domain).
	Operator Operator
	// Detect finds the machine's devices (default device.Detect).
	Detect func(ctx context.Context) device.Device
}

// Services is what units need from the sync machinery.
type Services interface {
	// SetState sets a service's (or app's) desired state in its file
	// ("running" or "stopped") and commits.
	SetState(ctx context.Context, kind, name, want string) error
	// Converge makes a change to one object take effect: a request for a
	// pass (the agent), or a pass of that object alone (the CLI without an
	// agent: what else differs is the agent's or aima sync's to converge);
	// it returns the object's own failure, if any.
	Converge(ctx context.Context, kind, name string) error
	// Status is the observed status of an object ("status", "reason", ...).
	Status(ctx context.Context, kind, name string) (map[string]any, error)
	// Wait waits until the object is in the wanted state or has failed.
	Wait(ctx context.Context, kind, name, want string, timeout time.Duration) (map[string]any, error)
	// Route is the endpoint of a running service of the model.
	Route(ctx context.Context, model string) (string, error)
	// Logs is the output of the object's own container (the last tail
	// lines; 0: all).
	Logs(ctx context.Context, kind, name string, replica, tail int) (string, error)
	// Resources is each resource slot with its use.
	Resources(ctx context.Context) ([]map[string]any, error)
	// Plan is what a sync would do (state.diff's answer).
	Plan(ctx context.Context) (map[string]any, error)
	// Sync converges now (state.sync's answer).
	Sync(ctx context.Context) (map[string]any, error)
	// Render is the container create request of each of the object's
	// containers, in the runtime's own API shapes (Docker: Config,
	// HostConfig, NetworkingConfig), secrets shown as references.
	Render(ctx context.Context, kind, name string) ([]any, error)
}

// Pipelines runs pipelines (agent/pipeline implements it).
type Pipelines interface {
	Run(ctx context.Context, name string, input map[string]any, wait bool) (map[string]any, error)
	Runs(name string) ([]map[string]any, error)
	Cancel(id string) (map[string]any, error)
}

func (e *Env) detect(ctx context.Context) device.Device {
	if e.Detect != nil {
		return e.Detect(ctx)
	}
	return device.Detect(ctx)
}

func (e *Env) kick() {
	if e.Kick != nil {
		e.Kick()
	}
}

func (e *Env) services() (Services, error) {
	if e.Services == nil {
		return nil, fmt.Errorf("%w: this unit acts on containers, and no container runtime is configured", state.ErrInvalid)
	}
	return e.Services, nil
}

// Registry holds units by name.
type Registry struct {
	mu    sync.RWMutex
	units map[string]Unit
}

// Default is the registry of the built-in units. Pipeline files are
// checked against it where a store is opened for a door (daemon.OpenStore
// sets state.Store.UnitExists to Default.Has); importing this package sets
// nothing elsewhere.
var Default = func() *Registry {
	r := NewRegistry()
	addBuiltins(r)
	return r
}()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{units: map[string]Unit{}} }

// Add registers u, replacing a unit of the same name.
func (r *Registry) Add(u Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.units[u.Name] = u
}

// Has reports whether a unit of that name exists.
func (r *Registry) Has(name string) bool {
	_, ok := r.Get(name)
	return ok
}

// Get returns the named unit.
func (r *Registry) Get(name string) (Unit, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u, ok := r.units[name]
	return u, ok
}

// List returns the units by name.
func (r *Registry) List() []Unit {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Unit, 0, len(r.units))
	for _, u := range r.units {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Call runs the named unit. An unknown name is ErrNotFound, naming the
// units that exist.
func (r *Registry) Call(ctx context.Context, env *Env, name string, params map[string]any) (map[string]any, error) {
	u, ok := r.Get(name)
	if !ok {
		names := []string{}
		for _, u := range r.List() {
			names = append(names, u.Name)
		}
		return nil, fmt.Errorf("unit %q: %w (units: %s)", name, state.ErrNotFound, strings.Join(names, ", "))
	}
	if params == nil {
		params = map[string]any{}
	}
	if st := env.Store.For(ctx); st != env.Store { // writes commit as the caller
		e := *env
		e.Store = st
		env = &e
	}
	out, err := u.Run(ctx, env, params)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// List builds the {"items": [...], "total": N} answer of a list unit.
func List(items []map[string]any) map[string]any {
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{"items": items, "total": len(items)}
}

// String returns the first of the keys that is set, as a string.
func String(p map[string]any, keys ...string) string {
	for _, k := range keys {
		switch v := p[k].(type) {
		case nil:
		case string:
			if v != "" {
				return v
			}
		default:
			return fmt.Sprint(v)
		}
	}
	return ""
}

// Required is String, or an error naming the first key when none is set.
func Required(p map[string]any, keys ...string) (string, error) {
	if s := String(p, keys...); s != "" {
		return s, nil
	}
	return "", &state.InvalidError{Problems: []state.Problem{{Field: "/" + keys[0], Message: keys[0] + " is required"}}}
}

// Bool reads a boolean given as a bool or a string ("true", "1").
func Bool(p map[string]any, key string) bool {
	switch v := p[key].(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	case float64:
		return v != 0
	case json.Number:
		return v.String() != "0"
	}
	return false
}

// Float reads a number given as a number or a string.
func Float(p map[string]any, keys ...string) (float64, bool, error) {
	for _, k := range keys {
		switch v := p[k].(type) {
		case nil:
		case float64:
			return v, true, nil
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				return 0, false, &state.InvalidError{Problems: []state.Problem{{Field: "/" + k, Message: fmt.Sprintf("%q is not a number", v)}}}
			}
			return f, true, nil
		case int:
			return float64(v), true, nil
		case string:
			if v == "" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(v), "gb"), 64)
			if err != nil {
				return 0, false, &state.InvalidError{Problems: []state.Problem{{Field: "/" + k, Message: fmt.Sprintf("%q is not a number", v)}}}
			}
			return f, true, nil
		}
	}
	return 0, false, nil
}

// Map reads an object given as a map or as a JSON string.
func Map(p map[string]any, key string) (map[string]any, error) {
	switch v := p[key].(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return v, nil
	case string:
		if v == "" {
			return map[string]any{}, nil
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return nil, &state.InvalidError{Problems: []state.Problem{{Field: "/" + key, Message: fmt.Sprintf("not a JSON object: %v", err)}}}
		}
		return m, nil
	}
	return nil, &state.InvalidError{Problems: []state.Problem{{Field: "/" + key, Message: "want a JSON object"}}}
}

func reflectType[T any]() reflect.Type { return reflect.TypeFor[T]() }
