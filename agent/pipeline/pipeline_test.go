package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/pipeline"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// Test units, registered in the default registry (the one pipeline files
// are checked against).
var (
	barriers = struct {
		sync.Mutex
		m map[string]*barrier
	}{m: map[string]*barrier{}}
	started = struct {
		sync.Mutex
		m map[string]chan struct{}
	}{m: map[string]chan struct{}{}}
)

type barrier struct {
	n    int
	done chan struct{}
}

func init() {
	unit.Default.Add(unit.Unit{Name: "test.echo", Run: func(ctx context.Context, env *unit.Env, p map[string]any) (map[string]any, error) {
		return p, nil
	}})
	unit.Default.Add(unit.Unit{Name: "test.fail", Run: func(ctx context.Context, env *unit.Env, p map[string]any) (map[string]any, error) {
		return nil, errors.New("boom")
	}})
	// test.barrier returns only once `of` steps of the same group have
	// arrived: steps that do not run at the same time fail it.
	unit.Default.Add(unit.Unit{Name: "test.barrier", Run: func(ctx context.Context, env *unit.Env, p map[string]any) (map[string]any, error) {
		group := unit.String(p, "group")
		barriers.Lock()
		b := barriers.m[group]
		if b == nil {
			b = &barrier{done: make(chan struct{})}
			barriers.m[group] = b
		}
		b.n++
		if of, _, _ := unit.Float(p, "of"); b.n == int(of) {
			close(b.done)
		}
		barriers.Unlock()
		select {
		case <-b.done:
			return map[string]any{"at": time.Now().UnixNano()}, nil
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("barrier %s: the other steps never ran alongside", group)
		}
	}})
	// test.block announces that it started, then blocks until cancelled.
	unit.Default.Add(unit.Unit{Name: "test.block", Run: func(ctx context.Context, env *unit.Env, p map[string]any) (map[string]any, error) {
		started.Lock()
		ch := started.m[unit.String(p, "key")]
		delete(started.m, unit.String(p, "key")) // announced once
		started.Unlock()
		if ch != nil {
			close(ch)
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}})
}

// startedChan returns a channel closed when a test.block step with key starts.
func startedChan(key string) chan struct{} {
	ch := make(chan struct{})
	started.Lock()
	started.m[key] = ch
	started.Unlock()
	return ch
}

type env struct {
	st  *state.Store
	env *unit.Env
	r   *pipeline.Runner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	// As every door's store (daemon.OpenStore): steps are checked against
	// the registry, and a pipeline that runs cannot be deleted.
	st.UnitExists, st.InUse = unit.Default.Has, pipeline.InUse
	e := &env{st: st, env: &unit.Env{Store: st}}
	e.r = pipeline.New(e.env, unit.Default)
	e.r.Poll = 5 * time.Millisecond
	return e
}

func (e *env) create(t *testing.T, yaml string) {
	t.Helper()
	o, err := state.KindPipeline.Decode("", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Create(state.KindPipeline, o); err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(t *testing.T, name string, input map[string]any) *pipeline.Run {
	t.Helper()
	run, done, err := e.r.Start(context.Background(), name, input)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	got, err := e.r.Get(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func statuses(run *pipeline.Run) map[string]string {
	m := map[string]string{"run": run.Status}
	for _, s := range run.Steps {
		m[s.ID] = s.Status
	}
	return m
}

func step(run *pipeline.Run, id string) pipeline.Step {
	for _, s := range run.Steps {
		if s.ID == id {
			return s
		}
	}
	return pipeline.Step{}
}

func TestOrderAndParallelism(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: fan
steps:
  - {id: a, unit: test.barrier, params: {group: "${input.group}", of: 2}}
  - {id: b, unit: test.barrier, params: {group: "${input.group}", of: 2}}
  - {id: c, unit: test.echo, depends_on: [a, b]}
  - {id: d, unit: test.echo, depends_on: [c]}
`)
	// A fresh barrier per run (-count=N runs this test again).
	run := e.run(t, "fan", map[string]any{"group": fmt.Sprintf("fan-%d", time.Now().UnixNano())})
	if diff := cmp.Diff(map[string]string{"run": "completed", "a": "completed", "b": "completed", "c": "completed", "d": "completed"}, statuses(run)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s\n%+v", diff, run)
	}
	// a and b met at the barrier, so they overlapped; c started after
	// both ended, d after c.
	a, b, c, d := step(run, "a"), step(run, "b"), step(run, "c"), step(run, "d")
	if c.Started.Before(*a.Finished) || c.Started.Before(*b.Finished) || d.Started.Before(*c.Finished) {
		t.Errorf("order: a %v-%v b %v-%v c %v-%v d %v", a.Started, a.Finished, b.Started, b.Finished, c.Started, c.Finished, d.Started)
	}
}

func TestReferences(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: refs
steps:
  - {id: first, unit: test.echo, params: {value: "${input.model}", n: 3, list: [{name: x}]}}
  - id: second
    unit: test.echo
    depends_on: [first]
    params: {got: "${steps.first.value}", n: "${steps.first.n}", msg: "n=${steps.first.n} of ${input.model}", item: "${steps.first.list.0.name}"}
`)
	run := e.run(t, "refs", map[string]any{"model": "qwen"})
	if run.Status != pipeline.StatusCompleted {
		t.Fatalf("run %s: %+v", run.Status, run)
	}
	want := map[string]any{"got": "qwen", "n": 3.0, "msg": "n=3 of qwen", "item": "x"}
	if diff := cmp.Diff(want, step(run, "second").Output); diff != "" {
		t.Errorf("second's resolved params (-want +got):\n%s", diff)
	}

	// A reference to a field that is not there fails the step, naming it.
	e.create(t, `name: badref
steps:
  - {id: a, unit: test.echo}
  - {id: b, unit: test.echo, depends_on: [a], params: {x: "${steps.a.nothing}"}}
`)
	run = e.run(t, "badref", nil)
	if b := step(run, "b"); run.Status != pipeline.StatusFailed || b.Status != pipeline.StatusFailed || !strings.Contains(b.Error, `"nothing"`) {
		t.Errorf("run %s, b %s: %q", run.Status, b.Status, b.Error)
	}
}

func TestFailureSkipsDependents(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: fails
steps:
  - {id: bad, unit: test.fail}
  - {id: after, unit: test.echo, depends_on: [bad]}
  - {id: later, unit: test.echo, depends_on: [after]}
  - {id: other, unit: test.echo}
`)
	run := e.run(t, "fails", nil)
	want := map[string]string{"run": "failed", "bad": "failed", "after": "skipped", "later": "skipped", "other": "completed"}
	if diff := cmp.Diff(want, statuses(run)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(step(run, "bad").Error, "boom") || !strings.Contains(run.Error, "bad") {
		t.Errorf("errors: step %q, run %q", step(run, "bad").Error, run.Error)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: slow
steps:
  - {id: wait, unit: test.block, params: {key: cancel-1}}
  - {id: never, unit: test.echo, depends_on: [wait]}
`)
	began := startedChan("cancel-1")
	run, done, err := e.r.Start(context.Background(), "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-began
	if got, _ := e.r.Get(run.ID); got.Status != pipeline.StatusRunning || step(got, "wait").Status != pipeline.StatusRunning {
		t.Fatalf("while blocked: %v", statuses(got))
	}
	m, err := e.r.Cancel(run.ID)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	got, _ := e.r.Get(run.ID)
	want := map[string]string{"run": "cancelled", "wait": "cancelled", "never": "cancelled"}
	if diff := cmp.Diff(want, statuses(got)); diff != "" || m["status"] != "cancelled" {
		t.Errorf("statuses (-want +got):\n%s\nanswer %v", diff, m["status"])
	}
	if _, err := e.r.Cancel(run.ID); !errors.Is(err, state.ErrConflict) {
		t.Errorf("cancelling an ended run: %v, want a conflict", err)
	}
}

// TestCancelFromAnotherProcess: a second runner on the same directory (as
// the CLI is beside the agent) cancels through the run's cancel file.
func TestCancelFromAnotherProcess(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: slow
steps:
  - {id: wait, unit: test.block, params: {key: cancel-2}}
`)
	began := startedChan("cancel-2")
	run, done, err := e.r.Start(context.Background(), "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-began
	other := pipeline.New(&unit.Env{Store: e.st}, unit.Default)
	m, err := other.Cancel(run.ID)
	if err != nil || m["cancel_requested"] != true || m["status"] != "running" {
		t.Fatalf("cancel from the other runner: %v %v", m, err)
	}
	<-done
	if got, _ := other.Get(run.ID); got.Status != pipeline.StatusCancelled {
		t.Errorf("run %s after a cancel request", got.Status)
	}
}

// TestInterruptedAfterRestart: a run whose file says running but that no
// process holds (the agent was killed) is shown and recorded as
// interrupted; one that another process holds stays running.
func TestInterruptedAfterRestart(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: p
steps:
  - {id: a, unit: test.echo}
  - {id: b, unit: test.echo, depends_on: [a]}
`)
	dir := filepath.Join(e.st.Dir, ".local", "runs", "p")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	write := func(id string) {
		run := pipeline.Run{ID: id, Pipeline: "p", Status: "running", Created: now, Started: &now, PID: 999999,
			Steps: []pipeline.Step{{ID: "a", Unit: "test.echo", Status: "running", Started: &now}, {ID: "b", Unit: "test.echo", Status: "pending"}}}
		b, _ := json.Marshal(run)
		if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("20250101-000000-aaaaaa") // its process died
	write("20250101-000001-bbbbbb") // its process is alive
	held := flock.New(filepath.Join(dir, "20250101-000001-bbbbbb.lock"))
	if err := held.Lock(); err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()

	restarted := pipeline.New(&unit.Env{Store: e.st}, unit.Default)
	runs, err := restarted.Runs("p")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range runs {
		got[r["id"].(string)] = r["status"].(string)
	}
	if diff := cmp.Diff(map[string]string{"20250101-000000-aaaaaa": "interrupted", "20250101-000001-bbbbbb": "running"}, got); diff != "" {
		t.Errorf("statuses after restart (-want +got):\n%s", diff)
	}
	dead, _ := restarted.Get("20250101-000000-aaaaaa")
	if diff := cmp.Diff(map[string]string{"run": "interrupted", "a": "interrupted", "b": "cancelled"}, statuses(dead)); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
	// The pipeline of a held run cannot be deleted; once nobody holds it, it can.
	if err := e.st.Delete(state.KindPipeline, "p", ""); !errors.Is(err, state.ErrConflict) {
		t.Errorf("delete while another process runs it: %v", err)
	}
	held.Unlock()
	if err := e.st.Delete(state.KindPipeline, "p", ""); err != nil {
		t.Errorf("delete after: %v", err)
	}
}

func TestDeleteWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: slow
steps:
  - {id: wait, unit: test.block, params: {key: delete-1}}
`)
	began := startedChan("delete-1")
	run, done, err := e.r.Start(context.Background(), "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-began
	err = e.st.Delete(state.KindPipeline, "slow", "")
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), run.ID) {
		t.Errorf("delete while running: %v; want a conflict naming the run", err)
	}
	if code := api.AsError(err).Status; code != http.StatusConflict {
		t.Errorf("HTTP status %d, want 409", code)
	}
	if _, err := e.r.Cancel(run.ID); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := e.st.Delete(state.KindPipeline, "slow", ""); err != nil {
		t.Errorf("delete after the run: %v", err)
	}
}

func TestCreateChecksUnitsAndReferences(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown unit", "name: p\nsteps:\n  - {id: ok, unit: model.list}\n  - {id: typo, unit: model.lsit}\n", `/steps/1/unit: step "typo": unknown unit "model.lsit"`},
		{"reference to a step that does not run first", "name: p\nsteps:\n  - {id: a, unit: model.list}\n  - {id: b, unit: test.echo, params: {x: \"${steps.a.total}\"}}\n", `step "b" references ${steps.a.total}, but "a" is not among the steps it depends on`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := state.KindPipeline.Decode("", []byte(tc.yaml))
			if err == nil {
				_, err = e.st.Create(state.KindPipeline, o)
			}
			if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an invalid error containing %s", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(e.st.Dir, "pipelines", "p.yaml")); err == nil {
		t.Errorf("an invalid pipeline was written")
	}
}

// TestAPI drives the pipeline verbs over HTTP as the agent serves them.
func TestAPI(t *testing.T) {
	e := newEnv(t)
	e.create(t, `name: hello
steps:
  - {id: greet, unit: test.echo, params: {msg: "hello ${input.who}"}}
  - {id: models, unit: model.list}
`)
	srv := httptest.NewServer(api.New(api.Options{Store: e.st, Verbs: unit.Verbs(e.env, unit.Default)}).Handler())
	defer srv.Close()
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, run := do("POST", "/api/pipeline/run", `{"name": "hello", "input": {"who": "world"}, "wait": true}`)
	if code != 200 || run["status"] != "completed" {
		t.Fatalf("run: %d %v", code, run)
	}
	steps := run["steps"].([]any)
	if out := steps[0].(map[string]any)["output"].(map[string]any); out["msg"] != "hello world" {
		t.Errorf("greet output %v", out)
	}
	if out := steps[1].(map[string]any)["output"].(map[string]any); out["total"] != 0.0 {
		t.Errorf("model.list output %v", out)
	}
	code, runs := do("GET", "/api/pipeline/runs?id=hello", "")
	if code != 200 || runs["total"] != 1.0 || runs["items"].([]any)[0].(map[string]any)["id"] != run["id"] {
		t.Errorf("runs: %d %v", code, runs)
	}
	if code, _ := do("POST", "/api/pipeline/cancel", fmt.Sprintf(`{"run": %q}`, run["id"])); code != http.StatusConflict {
		t.Errorf("cancel of an ended run: %d, want 409", code)
	}
	if code, _ := do("POST", "/api/pipeline/run", `{"name": "nope"}`); code != http.StatusNotFound {
		t.Errorf("run of a missing pipeline: %d, want 404", code)
	}
	if code, _ := do("POST", "/api/pipeline/run", `{"name": `); code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d, want 400", code)
	}
}

// TestSchedule: a scheduled pipeline runs at its schedule's occurrences
// (not at once, not for times before the schedule was seen), as a run with
// trigger "schedule"; an occurrence while the previous run still goes is
// skipped, not queued; a changed schedule counts from the change; a
// schedule removed stops the runs.
func TestSchedule(t *testing.T) {
	e := newEnv(t)
	e.create(t, "name: tick\nschedule: \"*/5 * * * *\"\nsteps:\n  - id: a\n    unit: test.echo\n    params: {at: \"${input.scheduled_at}\"}\n")
	s := &pipeline.Scheduler{Runner: e.r}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)
	if got := s.Tick(ctx, t0); len(got) != 0 {
		t.Fatalf("a run started when the schedule was first seen: %v", got)
	}
	if got := s.Tick(ctx, t0.Add(3*time.Minute+59*time.Second)); len(got) != 0 {
		t.Fatalf("a run started before 10:05: %v", got)
	}
	got := s.Tick(ctx, t0.Add(4*time.Minute))
	if len(got) != 1 {
		t.Fatalf("no run at 10:05: %v", got)
	}
	if again := s.Tick(ctx, t0.Add(4*time.Minute+30*time.Second)); len(again) != 0 {
		t.Fatalf("a second run for the same occurrence: %v", again)
	}
	run := waitRun(t, e, got[0])
	if run.Trigger != "schedule" || run.Status != pipeline.StatusCompleted || run.Steps[0].Output["at"] != "2026-11-25T10:05:00Z" {
		t.Errorf("scheduled run: trigger %q status %q output %v", run.Trigger, run.Status, run.Steps[0].Output)
	}

	// Overlap: a run that blocks makes the next occurrence a skip.
	e.create(t, "name: slow\nschedule: \"@every 1m\"\nsteps:\n  - id: b\n    unit: test.block\n    params: {key: sched}\n")
	begun := startedChan("sched")
	s.Tick(ctx, t0) // seen at t0: first due t0+1m
	first := s.Tick(ctx, t0.Add(time.Minute))
	if len(first) != 1 {
		t.Fatalf("slow did not start at t0+1m: %v", first)
	}
	<-begun
	if skipped := s.Tick(ctx, t0.Add(2*time.Minute)); len(skipped) != 0 {
		t.Fatalf("a run started while the previous one still runs: %v", skipped)
	}
	if _, err := e.r.Cancel(first[0]); err != nil {
		t.Fatal(err)
	}
	if next := s.Tick(ctx, t0.Add(3*time.Minute)); len(next) != 1 {
		t.Fatalf("no run once the previous one ended: %v", next)
	} else if _, err := e.r.Cancel(next[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Delete(state.KindPipeline, "slow", ""); err != nil {
		t.Fatal(err)
	}

	// A changed schedule counts from the change; a removed one stops.
	if err := replace(e.st, "name: tick\nschedule: \"0 12 * * *\"\nsteps:\n  - id: a\n    unit: test.echo\n"); err != nil {
		t.Fatal(err)
	}
	if got := s.Tick(ctx, t0.Add(9*time.Minute)); len(got) != 0 { // 10:10 would have been due under */5
		t.Fatalf("old schedule still in effect: %v", got)
	}
	if got := s.Tick(ctx, t0.Add(119*time.Minute)); len(got) != 1 { // 12:00
		t.Fatalf("new schedule not in effect: %v", got)
	} else {
		waitRun(t, e, got[0])
	}
	if err := replace(e.st, "name: tick\nsteps:\n  - id: a\n    unit: test.echo\n"); err != nil {
		t.Fatal(err)
	}
	if got := s.Tick(ctx, t0.Add(48*time.Hour)); len(got) != 0 {
		t.Fatalf("a run after the schedule was removed: %v", got)
	}
}

// TestScheduleRefusedAtCreate: a bad schedule is an error naming the field.
func TestScheduleRefusedAtCreate(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []string{"every hour", "61 * * * *", "* * * *", "@every banana"} {
		o, err := state.KindPipeline.Decode("pipelines/p.yaml", []byte(fmt.Sprintf("name: p\nschedule: %q\nsteps:\n  - id: a\n    unit: test.echo\n", bad)))
		if err == nil {
			_, err = e.st.Create(state.KindPipeline, o)
		}
		var inv *state.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "/schedule") {
			t.Errorf("schedule %q: got %v, want an invalid /schedule", bad, err)
		}
	}
}

// replace rewrites the pipeline named in yaml.
func replace(st *state.Store, yaml string) error {
	o, err := state.KindPipeline.Decode("", []byte(yaml))
	if err != nil {
		return err
	}
	_, err = st.Update(state.KindPipeline, o.ObjectName(), "", func(state.Object) (state.Object, error) { return o, nil })
	return err
}

func waitRun(t *testing.T, e *env, id string) *pipeline.Run {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		run, err := e.r.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if pipeline.Final(run.Status) || time.Now().After(deadline) {
			return run
		}
		time.Sleep(5 * time.Millisecond)
	}
}
