// Package pipeline runs pipelines: the steps of a pipeline file are unit
// calls (package unit) run in dependency order, independent steps in
// parallel, with ${input.x} and ${steps.<id>.<field>} references resolved
// from the run input and earlier outputs.
//
// A run is a JSON file under .aima/.local/runs/<pipeline>/<id>.json
// (never in git), rewritten atomically at every step change, so runs
// survive restarts. The process running a run holds a lock file next to it;
// a run whose file says running but whose lock nobody holds was cut short
// (a crash, a restart) and is shown — and recorded — as interrupted.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// Run and step statuses.
const (
	StatusPending     = "pending"
	StatusRunning     = "running"
	StatusCompleted   = "completed"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusSkipped     = "skipped"     // a step whose dependency failed
	StatusInterrupted = "interrupted" // the process running it ended
)

// Run is one run of a pipeline, as stored.
type Run struct {
	ID       string         `json:"id"`
	Pipeline string         `json:"pipeline"`
	Revision string         `json:"revision,omitempty"` // of the pipeline file the run started from
	Status   string         `json:"status"`
	Error    string         `json:"error,omitempty"`
	Input    map[string]any `json:"input,omitempty"`
	Trigger  string         `json:"trigger,omitempty"` // "schedule" for a run the schedule started; empty when asked for
	Steps    []Step         `json:"steps"`
	Created  time.Time      `json:"created"`
	Started  *time.Time     `json:"started,omitempty"`
	Finished *time.Time     `json:"finished,omitempty"`
	PID      int            `json:"pid"`
}

// Step is one step of a run.
type Step struct {
	ID        string         `json:"id"`
	Unit      string         `json:"unit"`
	DependsOn []string       `json:"depends_on,omitempty"`
	Params    map[string]any `json:"params,omitempty"` // as written in the pipeline
	Status    string         `json:"status"`
	Output    map[string]any `json:"output,omitempty"`
	Error     string         `json:"error,omitempty"`
	Started   *time.Time     `json:"started,omitempty"`
	Finished  *time.Time     `json:"finished,omitempty"`
}

// Final reports whether a status is an end state.
func Final(status string) bool {
	switch status {
	case StatusPending, StatusRunning:
		return false
	}
	return true
}

// Map renders the run as the API and -o json show it.
func (r *Run) Map() map[string]any {
	m := map[string]any{}
	b, _ := json.Marshal(r)
	_ = json.Unmarshal(b, &m)
	m["name"] = r.ID
	return m
}

// Runner runs the pipelines of one state directory.
type Runner struct {
	Env   *unit.Env
	Units *unit.Registry
	// Parallel bounds the steps of one run that run at once (default 8).
	Parallel int
	// Poll is how often a run looks for a cancel request made by another
	// process (default 200ms).
	Poll time.Duration
	// Log receives what cannot be reported otherwise (default slog.Default()).
	Log *slog.Logger

	mu     sync.Mutex
	active map[string]*active
}

type active struct {
	pipeline string
	cancel   context.CancelFunc
	done     chan struct{}
}

// New returns a runner for env's store and makes it env's Pipelines, so
// the pipeline.* units reach it.
func New(env *unit.Env, reg *unit.Registry) *Runner {
	if reg == nil {
		reg = unit.Default
	}
	r := &Runner{Env: env, Units: reg, active: map[string]*active{}}
	env.Pipelines = r
	return r
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// maxDepth bounds pipelines that run pipelines (pipeline.run steps).
const maxDepth = 8

type depthKey struct{}

// keep is how many finished runs of a pipeline are kept.
const keep = 100

func runsDir(dir string) string { return filepath.Join(dir, ".local", "runs") }

func (r *Runner) dir() string { return runsDir(r.Env.Store.Dir) }

var idRE = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$`)

func newID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Run starts a run of the named pipeline. With wait it returns when the run
// has ended (or ctx is done: the run goes on); without, once it is started.
func (r *Runner) Run(ctx context.Context, name string, input map[string]any, wait bool) (map[string]any, error) {
	run, done, err := r.Start(ctx, name, input)
	if err != nil {
		return nil, err
	}
	if wait {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	cur, err := r.Get(run.ID)
	if err != nil {
		return nil, err
	}
	return cur.Map(), nil
}

// Start starts a run and returns it with a channel closed when it ends.
func (r *Runner) Start(ctx context.Context, name string, input map[string]any) (*Run, <-chan struct{}, error) {
	return r.start(ctx, name, input, "")
}

// Running reports whether this runner has a run of the pipeline going.
func (r *Runner) Running(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.active {
		if a.pipeline == name {
			return true
		}
	}
	return false
}

func (r *Runner) start(ctx context.Context, name string, input map[string]any, trigger string) (*Run, <-chan struct{}, error) {
	depth, _ := ctx.Value(depthKey{}).(int)
	if depth >= maxDepth {
		return nil, nil, fmt.Errorf("%w: pipeline %q: pipelines run pipelines %d deep; is one running itself?", state.ErrInvalid, name, depth)
	}
	e, err := r.Env.Store.Get(state.KindPipeline, name)
	if err != nil {
		return nil, nil, err
	}
	p, ok := e.Object.(*state.Pipeline)
	if !ok || p == nil {
		return nil, nil, fmt.Errorf("%w: pipeline %q: its file is invalid: %v", state.ErrInvalid, name, e.Problem)
	}
	for i, s := range p.Steps {
		if !r.Units.Has(s.Unit) {
			return nil, nil, &state.InvalidError{Problems: []state.Problem{{Field: fmt.Sprintf("/steps/%d/unit", i), Message: fmt.Sprintf("step %q: unknown unit %q", s.ID, s.Unit)}}}
		}
	}
	if input == nil {
		input = map[string]any{}
	}
	now := time.Now()
	run := &Run{ID: newID(now), Pipeline: name, Revision: e.Revision, Status: StatusPending, Input: input, Trigger: trigger, Created: now, PID: os.Getpid()}
	for _, s := range p.Steps {
		run.Steps = append(run.Steps, Step{ID: s.ID, Unit: s.Unit, DependsOn: s.DependsOn, Params: s.Params, Status: StatusPending})
	}
	dir := filepath.Join(r.dir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	r.prune(dir)
	// The lock is taken before the file exists, so nobody ever sees this
	// run pending with its lock free (which means interrupted).
	lock := flock.New(filepath.Join(dir, run.ID+".lock"))
	if err := lock.Lock(); err != nil {
		return nil, nil, fmt.Errorf("lock run %s: %w", run.ID, err)
	}
	if err := save(dir, run); err != nil {
		_ = lock.Unlock()
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), depthKey{}, depth+1))
	a := &active{pipeline: name, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.active[run.ID] = a
	r.mu.Unlock()
	x := &execution{r: r, dir: dir, run: run}
	go func() {
		defer close(a.done)
		defer func() {
			r.mu.Lock()
			delete(r.active, run.ID)
			r.mu.Unlock()
			_ = lock.Unlock()
			_ = os.Remove(filepath.Join(dir, run.ID+".cancel"))
		}()
		defer cancel()
		x.execute(runCtx)
	}()
	return x.snapshot(), a.done, nil
}

// Get reads a run by id.
func (r *Runner) Get(id string) (*Run, error) {
	path, err := r.find(id)
	if err != nil {
		return nil, err
	}
	return r.load(path)
}

// Runs lists the runs of a pipeline (every pipeline when name is empty),
// newest first.
func (r *Runner) Runs(name string) ([]map[string]any, error) {
	pattern := filepath.Join(r.dir(), "*", "*.json")
	if name != "" {
		if err := state.CheckName("name", name); err != nil {
			return nil, err
		}
		if !r.Env.Store.Exists(state.KindPipeline, name) {
			if _, err := os.Stat(filepath.Join(r.dir(), name)); err != nil {
				return nil, fmt.Errorf("pipeline %q: %w", name, state.ErrNotFound)
			}
		}
		pattern = filepath.Join(r.dir(), name, "*.json")
	}
	paths, _ := filepath.Glob(pattern)
	var runs []*Run
	for _, p := range paths {
		run, err := r.load(p)
		if err != nil {
			continue // a foreign or torn file: not a run
		}
		runs = append(runs, run)
	}
	sort.Slice(runs, func(i, j int) bool {
		if !runs[i].Created.Equal(runs[j].Created) {
			return runs[i].Created.After(runs[j].Created)
		}
		return runs[i].ID > runs[j].ID
	})
	out := make([]map[string]any, 0, len(runs))
	for _, run := range runs {
		out = append(out, run.Map())
	}
	return out, nil
}

// Cancel cancels a run: at once when this process runs it, through a
// request file when another process does, and by recording it cancelled
// when nobody runs it any more. A run that has ended is a conflict.
func (r *Runner) Cancel(id string) (map[string]any, error) {
	path, err := r.find(id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	a := r.active[id]
	r.mu.Unlock()
	if a != nil {
		a.cancel()
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
		}
		run, err := r.load(path)
		if err != nil {
			return nil, err
		}
		return run.Map(), nil
	}
	run, err := r.load(path)
	if err != nil {
		return nil, err
	}
	if Final(run.Status) {
		return nil, fmt.Errorf("run %s: %w: it has already ended (%s)", id, state.ErrConflict, run.Status)
	}
	// Running in another process: ask it.
	if err := state.WriteFile(strings.TrimSuffix(path, ".json")+".cancel", []byte("cancel\n")); err != nil {
		return nil, err
	}
	m := run.Map()
	m["cancel_requested"] = true
	return m, nil
}

// find returns the file of a run id.
func (r *Runner) find(id string) (string, error) {
	if !idRE.MatchString(id) {
		return "", fmt.Errorf("run %q: %w (run ids look like 20250101-120000-abcdef; aima pipeline runs NAME lists them)", id, state.ErrNotFound)
	}
	paths, _ := filepath.Glob(filepath.Join(r.dir(), "*", id+".json"))
	if len(paths) == 0 {
		return "", fmt.Errorf("run %q: %w", id, state.ErrNotFound)
	}
	return paths[0], nil
}

// load reads a run file. A run that says pending or running, that this
// runner does not run and whose lock is free, was interrupted: that is
// recorded in its file.
func (r *Runner) load(path string) (*Run, error) {
	run, err := read(path)
	if err != nil || Final(run.Status) {
		return run, err
	}
	r.mu.Lock()
	_, mine := r.active[run.ID]
	r.mu.Unlock()
	if mine {
		return run, nil
	}
	lock := flock.New(strings.TrimSuffix(path, ".json") + ".lock")
	ok, err := lock.TryLock()
	if err != nil || !ok {
		return run, nil // another process runs it
	}
	defer lock.Unlock()
	// Re-read under the lock: the run may have ended meanwhile.
	if run, err = read(path); err != nil || Final(run.Status) {
		return run, err
	}
	now := time.Now()
	run.Status, run.Finished = StatusInterrupted, &now
	run.Error = fmt.Sprintf("the process running it (pid %d) ended before the run did", run.PID)
	for i := range run.Steps {
		switch run.Steps[i].Status {
		case StatusRunning:
			run.Steps[i].Status, run.Steps[i].Finished = StatusInterrupted, &now
		case StatusPending:
			run.Steps[i].Status = StatusCancelled
		}
	}
	if err := save(filepath.Dir(path), run); err != nil {
		return nil, err
	}
	return run, nil
}

func read(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	run := &Run{}
	if err := json.Unmarshal(b, run); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return run, nil
}

func save(dir string, run *Run) error {
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(dir, run.ID+".json"), append(b, '\n'))
}

// prune removes the oldest finished runs beyond keep.
func (r *Runner) prune(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(paths) < keep {
		return
	}
	sort.Strings(paths) // ids start with their time
	for _, p := range paths[:len(paths)-keep+1] {
		if run, err := read(p); err == nil && Final(run.Status) {
			base := strings.TrimSuffix(p, ".json")
			_ = os.Remove(p)
			_ = os.Remove(base + ".lock")
		}
	}
}

// InUse refuses to delete a pipeline while one of its runs is running (in
// any process: its lock is held). It is the state.Store.InUse of every
// door's store (daemon.OpenStore wires it), not set by importing this
// package.
func InUse(dir string, k *state.Kind, name string) error {
	if k != state.KindPipeline {
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(runsDir(dir), name, "*.json"))
	for _, p := range paths {
		run, err := read(p)
		if err != nil || Final(run.Status) {
			continue
		}
		lock := flock.New(strings.TrimSuffix(p, ".json") + ".lock")
		ok, err := lock.TryLock()
		if ok {
			_ = lock.Unlock()
			continue // interrupted; nobody runs it
		}
		if err == nil {
			return fmt.Errorf("pipeline %q: %w: run %s is %s; cancel it first (aima pipeline cancel %s)", name, state.ErrConflict, run.ID, run.Status, run.ID)
		}
	}
	return nil
}
