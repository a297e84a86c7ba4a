package unit

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aima-dev/aima/state"
)

// The verbs that act on containers, look at the whole state directory or
// at the live domains (status, log, diff, sync, logs, alerts, resources,
// inference, remote, agent). Containers are reached through Env.Services,
// alerts through Env.Alerts.

// StateRequest is service and app start|stop.
type StateRequest struct {
	// The service or app.
	ID string `json:"id,omitempty"`
	// Same as id.
	Name string `json:"name,omitempty"`
	// Wait until it is running (start) or stopped (stop), or has failed.
	Wait bool `json:"wait,omitempty"`
	// How long to wait (default 2m): 90s, 2m or seconds.
	Timeout Duration `json:"timeout,omitempty"`
	// Start a service even when its model does not fit this machine's memory (the fit check).
	Force bool `json:"force,omitempty"`
}

// LogsRequest is service and app logs.
type LogsRequest struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// The last N lines (0: all).
	Tail int `json:"tail,omitempty"`
	// Which replica of a service of several (default 1).
	Replica int `json:"replica,omitempty"`
}

// LogsAnswer is the output of an object's container.
type LogsAnswer struct {
	ID   string `json:"id"`
	Logs string `json:"logs"`
}

// RenderAnswer is service.render and app.render.
type RenderAnswer struct {
	ID string `json:"id"`
	// One create request per container (per replica), in the runtime's API shapes.
	Containers []any `json:"containers"`
}

// LogRequest is state.log: the git history.
type LogRequest struct {
	// A state-directory path (services/x.yaml, services/) or KIND/NAME (service/x).
	Path string `json:"path,omitempty"`
	// At most this many commits (default 20; 0: all).
	N *int `json:"n,omitempty"`
}

// HistoryRequest is alert.history.
type HistoryRequest struct {
	// The last N events (default all).
	N int `json:"n,omitempty"`
}

// Alerts is what the alert units need of the alert engine.
type Alerts interface {
	Active() []map[string]any
	History(n int) ([]map[string]any, error)
}

// defaultWait is how long start|stop --wait waits when no timeout is given.
const defaultWait = 2 * time.Minute

func addLive(r *Registry) {
	for _, k := range []*state.Kind{state.KindService, state.KindApp} {
		for _, want := range []string{"running", "stopped"} {
			verb := map[string]string{"running": "start", "stopped": "stop"}[want]
			r.Add(Typed(Unit{Name: k.Name + "." + verb, Description: fmt.Sprintf("Set a %s's state to %s in its file (one commit), converge, report its status; with wait, until it is %s or has failed", k.Name, want, want)},
				func(ctx context.Context, env *Env, req StateRequest) (map[string]any, error) {
					return setState(ctx, env, k, want, req)
				}))
		}
		r.Add(Typed(Unit{Name: k.Name + ".logs", Description: fmt.Sprintf("The output of the %s's own container", k.Name), Read: true},
			func(ctx context.Context, env *Env, req LogsRequest) (LogsAnswer, error) {
				name := firstOf(req.ID, req.Name)
				svc, err := env.services()
				if err != nil {
					return LogsAnswer{}, err
				}
				logs, err := svc.Logs(ctx, k.Name, name, max(req.Replica, 1), req.Tail)
				return LogsAnswer{ID: name, Logs: logs}, err
			}))
	}
	for _, k := range []*state.Kind{state.KindService, state.KindApp} {
		r.Add(Typed(Unit{Name: k.Name + ".render", Read: true, Description: fmt.Sprintf("The exact container create request of the %s (each replica's), in Docker's API shapes — what diff compares; secrets as their references", k.Name)},
			func(ctx context.Context, env *Env, req IDRequest) (RenderAnswer, error) {
				name := req.name()
				if _, err := env.Store.Get(k, name); err != nil {
					return RenderAnswer{}, err
				}
				svc, err := env.services()
				if err != nil {
					return RenderAnswer{}, err
				}
				cs, err := svc.Render(ctx, k.Name, name)
				return RenderAnswer{ID: name, Containers: cs}, err
			}))
	}
	r.Add(Unit{Name: "service.status", Description: "The observed status of a service", Read: true, Request: reflectType[IDRequest](), Run: statusUnit})
	r.Add(Unit{Name: "resource.status", Description: "Each resource slot: its limit, what is used, the services admitted and refused", Read: true, Request: reflectType[struct{}](), Response: reflectType[ListAnswer](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			svc, err := env.services()
			if err != nil {
				return nil, err
			}
			items, err := svc.Resources(ctx)
			if err != nil {
				return nil, err
			}
			return List(items), nil
		}})
	r.Add(Unit{Name: "state.diff", Description: "The plan: what a sync would do to the containers, each operation with its cause", Read: true, Request: reflectType[struct{}](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			svc, err := env.services()
			if err != nil {
				return nil, err
			}
			return svc.Plan(ctx)
		}})
	r.Add(Unit{Name: "state.sync", Description: "Converge the containers to the files now (a follower first fetches and applies its remote)", Request: reflectType[struct{}](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			svc, err := env.services()
			if err != nil {
				return nil, err
			}
			return svc.Sync(ctx)
		}})
	r.Add(Unit{Name: "alert.active", Description: "The alerts firing now", Read: true, Request: reflectType[struct{}](), Response: reflectType[ListAnswer](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			if env.Alerts == nil {
				return List(nil), nil
			}
			return List(env.Alerts.Active()), nil
		}})
	r.Add(Typed(Unit{Name: "alert.history", Description: "Alert events (firing, resolved), newest last", Read: true},
		func(ctx context.Context, env *Env, req HistoryRequest) (map[string]any, error) {
			if env.Alerts == nil {
				return List(nil), nil
			}
			items, err := env.Alerts.History(req.N)
			return List(items), err
		}))
	r.Add(Unit{Name: "state.status", Description: "Every object with its observed state and problems, the counts per kind, the invalid files and the last commit", Read: true,
		Request: reflectType[struct{}](), Run: stateStatus})
	r.Add(Typed(Unit{Name: "state.log", Description: "Who changed what and when: the commits of the state directory, or of one path or object", Read: true},
		func(ctx context.Context, env *Env, req LogRequest) (map[string]any, error) { return stateLog(env, req) }))
	r.Add(Unit{Name: "inference.list", Description: "The models that have a service: the targets of inference requests, with the services that serve them", Read: true,
		Request: reflectType[struct{}](), Response: reflectType[ListAnswer](), Run: inferenceList})
	r.Add(Unit{Name: "remote.list", Description: "The git remotes of the state repository (passwords in URLs redacted)", Read: true,
		Request: reflectType[struct{}](), Response: reflectType[ListAnswer](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			remotes, err := env.Store.Remotes()
			if err != nil {
				return nil, err
			}
			items := []map[string]any{}
			for _, rm := range remotes {
				items = append(items, map[string]any{"id": rm.Name, "name": rm.Name, "url": rm.URL, "urls": []string{rm.URL}})
			}
			return List(items), nil
		}})
	r.Add(Unit{Name: "device.list", Description: "This machine as a one-item list (device.detect's answer)", Read: true, Request: reflectType[struct{}](), Response: reflectType[ListAnswer](),
		Run: func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
			d, err := toAnswer(env.detect(ctx))
			if err != nil {
				return nil, err
			}
			d["id"], d["name"] = "local", "local"
			return List([]map[string]any{d}), nil
		}})
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func setState(ctx context.Context, env *Env, k *state.Kind, want string, req StateRequest) (map[string]any, error) {
	name := firstOf(req.ID, req.Name)
	if name == "" {
		return nil, invalidField("/id", "id (or name) is required: the %s", k.Name)
	}
	svc, err := env.services()
	if err != nil {
		return nil, err
	}
	if k == state.KindService && want == "running" && !req.Force {
		if err := checkServiceFit(ctx, env, name); err != nil {
			return nil, err
		}
	}
	if err := svc.SetState(ctx, k.Name, name, want); err != nil {
		return nil, err
	}
	if err := svc.Converge(ctx, k.Name, name); err != nil && !req.Wait {
		return nil, err // waiting, the status says how it ended
	}
	e, err := env.Store.Get(k, name)
	if err != nil {
		return nil, err
	}
	out := e.Map()
	var st map[string]any
	if req.Wait {
		timeout := time.Duration(req.Timeout)
		if timeout == 0 {
			timeout = defaultWait
		}
		st, err = svc.Wait(ctx, k.Name, name, want, timeout)
		if err != nil {
			return nil, err
		}
		if s, _ := st["status"].(string); s != want {
			reason, _ := st["reason"].(string)
			return nil, fmt.Errorf("%s/%s is %s, not %s: %s: %w", k.Name, name, s, want, reason, state.ErrConflict)
		}
	} else {
		st, _ = svc.Status(ctx, k.Name, name)
	}
	merge(out, st)
	return out, nil
}

func statusUnit(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	var req IDRequest
	if err := Decode(p, &req); err != nil {
		return nil, err
	}
	name := req.name()
	if _, err := env.Store.Get(state.KindService, name); err != nil {
		return nil, err
	}
	out := map[string]any{"id": name, "name": name}
	merge(out, env.observed(ctx)(state.KindService.Name, name))
	return out, nil
}

// stateStatus is GET /api/status and `aima status -o json`.
func stateStatus(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
	obs := env.observed(ctx)
	counts := map[string]int{}
	items := []map[string]any{}
	var found []state.Problem
	for _, k := range state.Kinds {
		entries, err := env.Store.List(k)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Name, err)
		}
		counts[k.Name] = len(entries)
		for _, e := range entries {
			it := map[string]any{"kind": k.Name, "id": e.Object.ObjectName(), "name": e.Object.ObjectName(), "source": e.Source}
			if e.Problem != nil {
				it["problems"] = e.Problem.Problems
				found = append(found, e.Problem.Problems...)
			}
			merge(it, obs(k.Name, e.Object.ObjectName()))
			items = append(items, it)
		}
	}
	probs := found
	if env.Problems != nil {
		probs = env.Problems()
	}
	if probs == nil {
		probs = []state.Problem{}
	}
	files := map[string]bool{}
	for _, p := range probs {
		files[p.File] = true
	}
	doc := map[string]any{
		"dir":      env.Store.Dir,
		"instance": instanceOf(env.Store),
		"kinds":    counts,
		"items":    items,
		"total":    len(items),
		"problems": probs,
		"invalid":  len(files),
	}
	if env.Unmanaged != nil {
		if u, err := env.Unmanaged(ctx); err == nil {
			doc["unmanaged"] = u
		}
	}
	if env.Version != "" {
		doc["version"] = env.Version
	}
	if ls, err := env.Store.LocalSettings(); err == nil && ls.Host != "" {
		doc["host"] = ls.Host // which host of a fleet this machine is
	}
	if env.Extra != nil {
		merge(doc, env.Extra())
	}
	if rp, err := env.Store.Repo(); err == nil {
		if log, err := rp.Log("", 1); err == nil && len(log) > 0 {
			doc["last_commit"] = log[0]
		}
	}
	return doc, nil
}

func stateLog(env *Env, req LogRequest) (map[string]any, error) {
	n := 20
	if req.N != nil {
		if *req.N < 0 {
			return nil, invalidField("/n", "%d: want a number of commits (0 = all)", *req.N)
		}
		n = *req.N
	}
	path, err := LogPath(req.Path)
	if err != nil {
		return nil, err
	}
	rp, err := env.Store.Repo()
	if err != nil {
		return nil, err
	}
	entries, err := rp.Log(path, n)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", path, err)
	}
	items := make([]map[string]any, 0, len(entries))
	for _, c := range entries {
		items = append(items, map[string]any{"id": c.Hash, "name": c.Hash[:12], "hash": c.Hash, "author": c.Author, "email": c.Email,
			"when": c.When, "message": c.Message, "files": c.Files})
	}
	return List(items), nil
}

// LogPath accepts a state-directory path or KIND/NAME (as `aima log` does).
func LogPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	clean := filepath.ToSlash(filepath.Clean(p))
	if strings.HasPrefix(clean, "../") || clean == ".." || strings.HasPrefix(clean, "/") {
		return "", invalidField("/path", "path %q is outside the state directory", p)
	}
	dir, name, _ := strings.Cut(clean, "/")
	k, err := state.LookupKind(dir)
	if err != nil || strings.Contains(name, "/") {
		return clean, nil // aima.yaml, .gitignore, ...
	}
	switch {
	case name == "":
		return k.Dir + "/", nil
	case strings.HasSuffix(name, k.Ext) || !state.ValidName(name):
		return k.Dir + "/" + name, nil
	}
	return k.Path(name), nil
}

func inferenceList(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
	services, err := env.Store.List(state.KindService)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	obs := env.observed(ctx)
	byModel := map[string][]map[string]any{}
	for _, e := range services {
		svc, ok := e.Object.(*state.Service)
		if !ok || svc.Model == "" {
			continue
		}
		it := map[string]any{"name": svc.Name, "engine": svc.Engine, "port": svc.Port}
		merge(it, obs(state.KindService.Name, svc.Name))
		byModel[svc.Model] = append(byModel[svc.Model], it)
	}
	models := make([]string, 0, len(byModel))
	for m := range byModel {
		models = append(models, m)
	}
	sort.Strings(models)
	items := make([]map[string]any, 0, len(models))
	for _, m := range models {
		items = append(items, map[string]any{"id": m, "name": m, "model": m, "services": byModel[m]})
	}
	return List(items), nil
}

func instanceOf(st *state.Store) string {
	set, err := st.Settings()
	if err != nil {
		return ""
	}
	return set.Instance
}
