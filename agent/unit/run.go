package unit

import (
	"context"
	"fmt"
	"time"

	"github.com/aima-dev/aima/agent/catalog"
	"github.com/aima-dev/aima/agent/model"
	"github.com/aima-dev/aima/state"
)

// RunRequest is model.run: `aima run MODEL`.
type RunRequest struct {
	// A model of the knowledge base (tinyllama, qwen2.5-7b, qwen2.5:7b), a recipe name, or a model file's name.
	Model string `json:"model"`
	// Engine name or type (vllm, ollama, llamacpp, stub); default: the recipe this machine's hardware is best for.
	Engine string `json:"engine,omitempty"`
	// Name of the service (default: a service of the model if there is one, else the model's name).
	Name string `json:"name,omitempty"`
	// Show what would be written and done, and change nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Start even when the model does not fit this machine's memory.
	Force bool `json:"force,omitempty"`
	// How long to wait until the service is healthy (default: the engine's health timeout, else 2m): 90s, 20m or seconds.
	Timeout Duration `json:"timeout,omitempty"`
}

// RunAnswer is what model.run did (or, with dry_run, would do).
type RunAnswer struct {
	// The service's name.
	ID   string `json:"id"`
	Name string `json:"name"`
	// The model, the service and the engine that serves it.
	Model      string `json:"model"`
	Service    string `json:"service"`
	Engine     string `json:"engine"`
	EngineType string `json:"engine_type"`
	// The recipe chosen ("" for a model file without one) and the machine's hardware profile.
	Recipe  string `json:"recipe,omitempty"`
	Profile string `json:"profile,omitempty"`
	// Why this recipe and engine.
	Why []string `json:"why,omitempty"`
	// GPU (or system) memory the model needs, in GB (0: its size is not known).
	NeedGB float64 `json:"need_gb,omitempty"`
	// The steps, in order: done, or with dry_run to be done.
	Steps  []string `json:"steps"`
	DryRun bool     `json:"dry_run,omitempty"`
	// The files written in one commit (with dry_run: that would be): model and service.
	Writes []map[string]any `json:"writes"`
	// Whether an existing service was reused (nothing written for it).
	Reused bool `json:"reused,omitempty"`
	// The service's observed status after the wait, and where it answers.
	Status   string `json:"status,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Port     int    `json:"port,omitempty"`
}

func addRun(r *Registry) {
	r.Add(Typed(Unit{Name: "model.run", Description: "Run a model in one step: match it to this machine (knowledge base and hardware profile), check it fits, write model and service in one commit, pull the weights, start and wait until healthy"},
		runModel))
}

func runModel(ctx context.Context, env *Env, req RunRequest) (RunAnswer, error) {
	dev := env.detect(ctx)
	plan, err := catalog.PlanRun(env.Store, catalog.HostOf(dev), catalog.RunRequest{Model: req.Model, Engine: req.Engine, Service: req.Name})
	if err != nil {
		return RunAnswer{}, err
	}
	svc := plan.Service
	out := RunAnswer{ID: svc.Name, Name: svc.Name, Model: plan.Model.Name, Service: svc.Name, Engine: plan.Engine, EngineType: plan.EngineType,
		Recipe: plan.Recipe, Profile: plan.Profile, Why: plan.Why, DryRun: req.DryRun, Reused: plan.ServiceExists,
		Writes: []map[string]any{}, Port: svc.Port}
	if out.NeedGB, err = catalog.ModelNeedGB(plan.Model); err != nil {
		return RunAnswer{}, err
	}
	step := func(format string, args ...any) { out.Steps = append(out.Steps, fmt.Sprintf(format, args...)) }

	running := false
	if plan.ServiceExists {
		if st, err := env.services(); err == nil {
			obs, _ := st.Status(ctx, state.KindService.Name, svc.Name)
			running = obs["status"] == "running"
		}
	}
	if !running && !req.Force {
		// A running service holds its own memory: it is not checked
		// against what it leaves free.
		if err := catalog.Fit(dev, placement(plan.Model, svc, plan.EngineType, plan.EngineGPU, out.NeedGB)); err != nil {
			return RunAnswer{}, fmt.Errorf("%w (--force runs it anyway)", err)
		}
	}

	write := !plan.ServiceExists
	if write {
		if plan.Pull {
			svc.State = "stopped" // started once the weights are there
		}
		if !plan.ModelExists {
			out.Writes = append(out.Writes, withKind(state.KindModel, state.ToMap(plan.Model)))
		}
		out.Writes = append(out.Writes, withKind(state.KindService, state.ToMap(svc)))
		step("write %s in one commit (run: %s)", writesSummary(out.Writes), plan.Model.Name)
	} else {
		step("reuse service %s (model %s on %s)", svc.Name, svc.Model, svc.Engine)
	}
	if plan.Pull {
		step("pull the weights of %s from %s (%s)", plan.Model.Name, plan.Model.Source, firstOf(plan.Model.Repo, plan.Model.URL))
	}
	timeout := time.Duration(req.Timeout)
	if timeout == 0 {
		timeout = healthTimeout(env.Store, plan.Engine)
	}
	step("start service %s and wait until it is healthy (at most %s)", svc.Name, timeout)
	if req.DryRun {
		return out, nil
	}

	if _, err := env.services(); err != nil {
		return RunAnswer{}, err
	}
	if write {
		objs, kinds := []state.Object{svc}, []*state.Kind{state.KindService}
		if !plan.ModelExists {
			objs, kinds = []state.Object{plan.Model, svc}, []*state.Kind{state.KindModel, state.KindService}
		}
		entries, err := env.Store.Apply(objs, kinds, "run: "+plan.Model.Name)
		if err != nil {
			return RunAnswer{}, err
		}
		s := entries[len(entries)-1].Object.(*state.Service)
		out.Port = s.Port
		out.Writes[len(out.Writes)-1] = withKind(state.KindService, state.ToMap(s))
		env.kick()
	}
	if plan.Pull {
		if _, err := model.Pull(ctx, env.Store, plan.Model.Name, model.Options{Bytes: progressOf(ctx)}); err != nil {
			return RunAnswer{}, fmt.Errorf("pull %s: %w (the model and service are written; aima run again resumes)", plan.Model.Name, err)
		}
	}
	got, err := setState(ctx, env, state.KindService, "running", StateRequest{Name: svc.Name, Wait: true, Timeout: Duration(timeout), Force: true})
	if err != nil {
		return RunAnswer{}, err
	}
	out.Status, _ = got["status"].(string)
	out.Reason, _ = got["reason"].(string)
	out.Endpoint, _ = got["endpoint"].(string)
	if p, ok := got["port"].(float64); ok {
		out.Port = int(p)
	}
	return out, nil
}

// placement describes a service of m for the fit check.
func placement(m *state.Model, svc *state.Service, engineType, engineGPU string, need float64) catalog.Placement {
	return catalog.Placement{Model: m.Name, NeedGB: need, EngineType: engineType, EngineGPU: engineGPU, GPU: svc.GPU, Replicas: svc.Replicas}
}

// checkFit is the fit check of a service about to be made or started
// (service.create, service.start, catalog.apply): its model's need against
// this machine's memory.
func checkFit(ctx context.Context, env *Env, m *state.Model, svc *state.Service, engineName string) error {
	need, err := catalog.ModelNeedGB(m)
	if err != nil || need == 0 {
		return err
	}
	e, err := env.Store.Get(state.KindEngine, engineName)
	if err != nil {
		return nil // the service's own check names the engine
	}
	eng, ok := e.Object.(*state.Engine)
	if !ok || eng == nil || eng.Type == "stub" {
		return nil
	}
	return catalog.Fit(env.detect(ctx), placement(m, svc, eng.Type, eng.GPU, need))
}

// checkServiceFit is checkFit for a service file, unless it is running
// already (it holds its own memory).
func checkServiceFit(ctx context.Context, env *Env, name string) error {
	e, err := env.Store.Get(state.KindService, name)
	if err != nil {
		return nil // setState reports it
	}
	svc, ok := e.Object.(*state.Service)
	if !ok || svc == nil {
		return nil
	}
	if s, err := env.services(); err == nil && modelSized(env, svc) != nil {
		if obs, _ := s.Status(ctx, state.KindService.Name, name); obs["status"] == "running" {
			return nil
		}
	}
	if err := serviceFits(ctx, env, svc); err != nil {
		return fmt.Errorf("%w (force starts it anyway)", err)
	}
	return nil
}

// serviceFits is checkFit for a service object; a model without a file
// or a size passes.
func serviceFits(ctx context.Context, env *Env, svc *state.Service) error {
	m := modelSized(env, svc)
	if m == nil {
		return nil
	}
	return checkFit(ctx, env, m, svc, svc.Engine)
}

// modelSized is the service's model when it has a size, else nil.
func modelSized(env *Env, svc *state.Service) *state.Model {
	e, err := env.Store.Get(state.KindModel, svc.Model)
	if err != nil {
		return nil
	}
	if m, _ := e.Object.(*state.Model); m != nil && m.Size != "" {
		return m
	}
	return nil
}

// healthTimeout is how long an engine may take to become healthy (its
// health.timeout, vLLM's 20m), 2m when it does not say.
func healthTimeout(st *state.Store, name string) time.Duration {
	if eng, err := st.Get(state.KindEngine, name); err == nil {
		if e, ok := eng.Object.(*state.Engine); ok && e != nil && e.Health != nil {
			if d, err := state.ParseDuration(e.Health.Timeout); err == nil && d > 0 {
				return d
			}
		}
	}
	return defaultWait
}

func withKind(k *state.Kind, m map[string]any) map[string]any {
	m["kind"] = k.Name
	return m
}

func writesSummary(writes []map[string]any) string {
	s := ""
	for i, w := range writes {
		if i > 0 {
			s += " and "
		}
		s += fmt.Sprintf("%s/%v", w["kind"], w["name"])
	}
	return s
}

type progressKey struct{}

// WithProgress returns ctx carrying f, which a pull started for it
// (model.run) calls as bytes arrive: the file, bytes so far, and its size
// (-1 when not known). The CLI draws a progress bar with it.
func WithProgress(ctx context.Context, f func(file string, done, total int64)) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

func progressOf(ctx context.Context) func(string, int64, int64) {
	f, _ := ctx.Value(progressKey{}).(func(string, int64, int64))
	return f
}
