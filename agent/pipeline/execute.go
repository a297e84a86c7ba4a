package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// execution is one run being executed; mu guards run, which is saved after
// every change.
type execution struct {
	r   *Runner
	dir string

	mu  sync.Mutex
	run *Run
}

func (x *execution) snapshot() *Run {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, _ := json.Marshal(x.run)
	cp := &Run{}
	_ = json.Unmarshal(b, cp)
	return cp
}

// update changes the run under the lock and saves it.
func (x *execution) update(f func(run *Run)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f(x.run)
	if err := save(x.dir, x.run); err != nil {
		// The run goes on; the next save retries.
		x.r.log().Warn("save pipeline run", "run", x.run.ID, "error", err)
	}
}

type stepResult struct {
	index  int
	output map[string]any
	err    error
}

// execute runs the steps: every step whose dependencies have completed
// starts (up to Parallel at once); a failed step skips the steps that
// depend on it, others go on; a cancel stops starting steps and cancels the
// running ones.
func (x *execution) execute(ctx context.Context) {
	now := time.Now()
	x.update(func(run *Run) { run.Status, run.Started = StatusRunning, &now })
	stopPoll := x.pollCancel(ctx)
	defer stopPoll()

	parallel := x.r.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	results := make(chan stepResult)
	running := 0
	for {
		var start []int
		x.update(func(run *Run) {
			skipDependents(run)
			if ctx.Err() != nil {
				return
			}
			for i, s := range run.Steps {
				if running+len(start) >= parallel {
					break
				}
				if s.Status == StatusPending && depsDone(run, s) {
					t := time.Now()
					run.Steps[i].Status, run.Steps[i].Started = StatusRunning, &t
					start = append(start, i)
				}
			}
		})
		for _, i := range start {
			running++
			params, err := x.resolve(i)
			go func() {
				if err != nil {
					results <- stepResult{index: i, err: err}
					return
				}
				out, err := x.r.Units.Call(ctx, x.r.Env, x.stepUnit(i), params)
				results <- stepResult{index: i, output: out, err: err}
			}()
		}
		if running == 0 {
			break
		}
		res := <-results
		running--
		x.update(func(run *Run) {
			s := &run.Steps[res.index]
			t := time.Now()
			s.Finished = &t
			switch {
			case res.err != nil && ctx.Err() != nil:
				s.Status, s.Error = StatusCancelled, res.err.Error()
			case res.err != nil:
				s.Status, s.Error = StatusFailed, res.err.Error()
			default:
				s.Status, s.Output = StatusCompleted, plain(res.output)
			}
		})
	}
	x.update(func(run *Run) {
		t := time.Now()
		run.Finished = &t
		var failed []string
		for i := range run.Steps {
			s := &run.Steps[i]
			if s.Status == StatusPending {
				s.Status = StatusCancelled
			}
			if s.Status == StatusFailed {
				failed = append(failed, s.ID)
			}
		}
		switch {
		case ctx.Err() != nil:
			run.Status, run.Error = StatusCancelled, "cancelled"
		case len(failed) > 0:
			run.Status, run.Error = StatusFailed, "failed steps: "+strings.Join(failed, ", ")
		default:
			run.Status = StatusCompleted
		}
	})
}

func (x *execution) stepUnit(i int) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.run.Steps[i].Unit
}

// pollCancel cancels the run when another process asks for it with a
// cancel file. It returns a function that stops polling.
func (x *execution) pollCancel(ctx context.Context) func() {
	poll := x.r.Poll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	path := filepath.Join(x.dir, x.run.ID+".cancel")
	r := x.r
	id := x.run.ID
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := os.Stat(path); err == nil {
					r.mu.Lock()
					a := r.active[id]
					r.mu.Unlock()
					if a != nil {
						a.cancel()
					}
					return
				}
			}
		}
	}()
	return func() { close(stop) }
}

func depsDone(run *Run, s Step) bool {
	for _, d := range s.DependsOn {
		if st := stepStatus(run, d); st != StatusCompleted {
			return false
		}
	}
	return true
}

func stepStatus(run *Run, id string) string {
	for _, s := range run.Steps {
		if s.ID == id {
			return s.Status
		}
	}
	return ""
}

// skipDependents marks pending steps whose dependency failed or was skipped.
func skipDependents(run *Run) {
	for changed := true; changed; {
		changed = false
		for i, s := range run.Steps {
			if s.Status != StatusPending {
				continue
			}
			for _, d := range s.DependsOn {
				if st := stepStatus(run, d); st == StatusFailed || st == StatusSkipped {
					run.Steps[i].Status = StatusSkipped
					run.Steps[i].Error = fmt.Sprintf("skipped: step %q %s", d, st)
					changed = true
					break
				}
			}
		}
	}
}

// plain turns a unit's output into plain JSON values, as it is stored and
// as references see it.
func plain(m map[string]any) map[string]any {
	out := map[string]any{}
	b, err := json.Marshal(m)
	if err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// ref is a reference in step params: ${input.a.b} or ${steps.id.field...}.
var ref = regexp.MustCompile(`\$\{((?:input|steps)\.[^}]+)\}`)

// resolve returns step i's params with references replaced.
func (x *execution) resolve(i int) (map[string]any, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.run.Steps[i]
	outputs := map[string]any{}
	for _, o := range x.run.Steps {
		if o.Status == StatusCompleted {
			outputs[o.ID] = o.Output
		}
	}
	scope := map[string]any{"input": plain(x.run.Input), "steps": outputs}
	v, err := substitute(plain(s.Params), scope)
	if err != nil {
		return nil, fmt.Errorf("step %q: %w", s.ID, err)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// substitute replaces references in strings: a string that is exactly one
// reference becomes the referenced value (a number stays a number, a list a
// list); references inside longer strings are formatted into them.
func substitute(v any, scope map[string]any) (any, error) {
	switch v := v.(type) {
	case string:
		if m := ref.FindStringSubmatch(v); m != nil && m[0] == v {
			return lookup(scope, m[1])
		}
		var firstErr error
		out := ref.ReplaceAllStringFunc(v, func(s string) string {
			val, err := lookup(scope, ref.FindStringSubmatch(s)[1])
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return s
			}
			if str, ok := val.(string); ok {
				return str
			}
			b, _ := json.Marshal(val)
			return string(b)
		})
		return out, firstErr
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := substitute(e, scope)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := substitute(e, scope)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// lookup follows a dotted path ("steps.a.items.0.name") through maps and
// lists.
func lookup(scope map[string]any, path string) (any, error) {
	parts := strings.Split(path, ".")
	var cur any = scope
	for i, p := range parts {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, fmt.Errorf("${%s}: %s has no %q", path, describe(parts[:i]), p)
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				return nil, fmt.Errorf("${%s}: %s has %d items; %q is not an index of it", path, describe(parts[:i]), len(c), p)
			}
			cur = c[n]
		default:
			return nil, fmt.Errorf("${%s}: %s is %v, not an object", path, describe(parts[:i]), c)
		}
	}
	return cur, nil
}

func describe(parts []string) string {
	switch {
	case len(parts) == 2 && parts[0] == "steps":
		return fmt.Sprintf("the output of step %q", parts[1])
	case len(parts) == 1 && parts[0] == "input":
		return "the run input"
	case len(parts) == 1 && parts[0] == "steps":
		return "the completed steps"
	}
	return strings.Join(parts, ".")
}
