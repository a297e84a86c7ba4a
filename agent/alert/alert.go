// Package alert evaluates alert rules (alerts/<name>.yaml) against the
// metrics the agent really has — host memory and CPU, NVIDIA GPUs where
// there are any, and the derived status of every service — and runs their
// actions. Firing and resolved alerts are recorded under .aima/.local/alerts/
// (never in git), so the active set and the history survive a restart.
package alert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/aima-dev/aima/state"
)

// Sample is one reading of everything a condition can refer to. A metric
// that the host does not have (GPU metrics without a GPU) is absent, and
// every comparison with it is false.
type Sample struct {
	Metrics  map[string]float64
	Services map[string]Service
}

// Service is the observed state of one service.
type Service struct {
	Status   string
	Restarts int
}

// transitional statuses end on their own, in running or in a failure.
var transitional = map[string]bool{"pending": true, "creating": true, "starting": true}

// Eval evaluates a parsed condition against a sample.
func Eval(e *state.Expr, s Sample) bool {
	b, _ := eval(e, s)
	return b
}

// eval returns (truth, ok) for boolean nodes; value nodes go through num.
func eval(e *state.Expr, s Sample) (bool, bool) {
	switch e.Op {
	case "or":
		l, _ := eval(e.Left, s)
		r, _ := eval(e.Right, s)
		return l || r, true
	case "and":
		l, _ := eval(e.Left, s)
		r, _ := eval(e.Right, s)
		return l && r, true
	case "not":
		v, ok := eval(e.Left, s)
		return ok && !v, ok
	case "call":
		svc, known := s.Services[e.Arg]
		switch e.Name {
		case "service_down":
			// Transitional states are not down: they end in running, or
			// in failed/unhealthy, which are. So an agent start or a
			// fresh deploy does not raise a false alarm.
			return !known || !(svc.Status == "running" || transitional[svc.Status]), true
		case "service_up":
			return known && svc.Status == "running", true
		case "service_failed":
			return known && (svc.Status == "failed" || svc.Status == "unhealthy"), true
		}
	}
	l, lok := num(e.Left, s)
	r, rok := num(e.Right, s)
	if !lok || !rok {
		return false, false // an absent metric makes the comparison unknown: false
	}
	switch e.Op {
	case ">":
		return l > r, true
	case ">=":
		return l >= r, true
	case "<":
		return l < r, true
	case "<=":
		return l <= r, true
	case "==":
		return l == r, true
	case "!=":
		return l != r, true
	}
	return false, false
}

func num(e *state.Expr, s Sample) (float64, bool) {
	switch e.Op {
	case "num":
		return e.Num, true
	case "metric":
		v, ok := s.Metrics[e.Name]
		return v, ok
	case "call":
		if e.Name == "service_restarts" {
			return float64(s.Services[e.Arg].Restarts), true
		}
	}
	return 0, false
}

// Event is one transition of one rule, as recorded in the history.
type Event struct {
	Rule      string    `json:"rule"`
	State     string    `json:"state"` // firing or resolved
	Severity  string    `json:"severity"`
	Condition string    `json:"condition"`
	Action    string    `json:"action"`
	Result    string    `json:"result,omitempty"` // what the action did, or why it failed
	At        time.Time `json:"at"`
}

// Active is a rule that is firing now.
type Active struct {
	Rule      string    `json:"rule"`
	Severity  string    `json:"severity"`
	Condition string    `json:"condition"`
	Since     time.Time `json:"since"`
	Notified  time.Time `json:"notified,omitzero"`
}

// Engine evaluates the rules of one state directory.
type Engine struct {
	Store *state.Store
	// Sample reads the metrics and service statuses.
	Sample func(ctx context.Context) Sample
	// StopService carries out the stop_service action.
	StopService func(ctx context.Context, name string) error
	Client      *http.Client
	Log         *slog.Logger
	Now         func() time.Time
	// Notify, when set, hears of every event Run's evaluations record (the
	// agent's event stream).
	Notify func(Event)

	mu     sync.Mutex
	active map[string]*Active
	loaded bool
}

func (e *Engine) dir() string { return filepath.Join(e.Store.Dir, ".local", "alerts") }

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) load() {
	if e.loaded {
		return
	}
	e.loaded = true
	e.active = map[string]*Active{}
	b, err := os.ReadFile(filepath.Join(e.dir(), "active.json"))
	if err != nil {
		return
	}
	var list []*Active
	if json.Unmarshal(b, &list) == nil {
		for _, a := range list {
			e.active[a.Rule] = a
		}
	}
}

// Evaluate runs one round: every enabled rule is evaluated against one
// sample; rules that start or stop firing are recorded and their actions run.
func (e *Engine) Evaluate(ctx context.Context) ([]Event, error) {
	rules, err := e.Store.List(state.KindAlert)
	if err != nil {
		return nil, err
	}
	sample := e.Sample(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.load()
	var events []Event
	seen := map[string]bool{}
	for _, en := range rules {
		r, ok := en.Object.(*state.Alert)
		if !ok || (r.Enabled != nil && !*r.Enabled) {
			continue
		}
		expr, err := state.ParseCondition(r.Condition)
		if err != nil {
			continue // refused at create; a hand edit shows in aima status
		}
		seen[r.Name] = true
		firing := Eval(expr, sample)
		cur := e.active[r.Name]
		switch {
		case firing && cur == nil:
			a := &Active{Rule: r.Name, Severity: severity(r), Condition: r.Condition, Since: e.now()}
			ev := Event{Rule: r.Name, State: "firing", Severity: a.Severity, Condition: r.Condition, Action: action(r), At: a.Since}
			if e.cooledDown(r) {
				ev.Result = e.act(ctx, r, expr, ev)
				a.Notified = e.now()
			} else {
				ev.Result = "not notified: within cooldown " + r.Cooldown
			}
			e.active[r.Name] = a
			events = append(events, ev)
		case !firing && cur != nil:
			ev := Event{Rule: r.Name, State: "resolved", Severity: cur.Severity, Condition: r.Condition, Action: action(r), At: e.now()}
			if action(r) == "webhook" {
				ev.Result = e.webhook(ctx, r, ev)
			}
			delete(e.active, r.Name)
			events = append(events, ev)
		}
	}
	// A deleted or disabled rule stops firing.
	for name, a := range e.active {
		if !seen[name] {
			events = append(events, Event{Rule: name, State: "resolved", Severity: a.Severity, Condition: a.Condition, Result: "rule removed or disabled", At: e.now()})
			delete(e.active, name)
		}
	}
	if len(events) > 0 {
		if err := e.record(events); err != nil {
			return events, err
		}
	}
	return events, nil
}

// cooledDown reports whether the rule may notify again: its cooldown has
// passed since its last notification (found in the history).
func (e *Engine) cooledDown(r *state.Alert) bool {
	d, err := time.ParseDuration(r.Cooldown)
	if err != nil || d <= 0 {
		return true
	}
	hist, _ := e.history(0)
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Rule == r.Name && hist[i].State == "firing" && !bytes.HasPrefix([]byte(hist[i].Result), []byte("not notified")) {
			return e.now().Sub(hist[i].At) >= d
		}
	}
	return true
}

func severity(r *state.Alert) string {
	if r.Severity == "" {
		return "warning"
	}
	return r.Severity
}

func action(r *state.Alert) string {
	if r.Action == "" {
		return "notify"
	}
	return r.Action
}

// act runs the rule's action for a firing event and says what happened.
func (e *Engine) act(ctx context.Context, r *state.Alert, expr *state.Expr, ev Event) string {
	e.logf(r, "alert firing", ev)
	switch action(r) {
	case "webhook":
		return e.webhook(ctx, r, ev)
	case "stop_service":
		var done []string
		for _, svc := range expr.Services() {
			if e.StopService == nil {
				return "stop_service: not available here"
			}
			if err := e.StopService(ctx, svc); err != nil {
				return fmt.Sprintf("stop %s: %v", svc, err)
			}
			done = append(done, svc)
		}
		return fmt.Sprintf("stopped %v", done)
	case "log":
		return "logged"
	}
	return "notified"
}

func (e *Engine) logf(r *state.Alert, msg string, ev Event) {
	if e.Log != nil {
		e.Log.Warn(msg, "rule", r.Name, "severity", ev.Severity, "condition", r.Condition)
	}
}

// webhook POSTs the event as JSON, retrying up to three times with backoff.
func (e *Engine) webhook(ctx context.Context, r *state.Alert, ev Event) string {
	body, _ := json.Marshal(ev)
	client := e.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	wait := 200 * time.Millisecond
	var last error
	for attempt := 1; attempt <= 3; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.WebhookURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "aima-alert")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return fmt.Sprintf("webhook %s: %d (attempt %d)", r.WebhookURL, resp.StatusCode, attempt)
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Sprintf("webhook %s: %v", r.WebhookURL, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
	return fmt.Sprintf("webhook %s failed after 3 attempts: %v", r.WebhookURL, last)
}

// record appends events to the history and rewrites the active set.
func (e *Engine) record(events []Event) error {
	if err := os.MkdirAll(e.dir(), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(e.dir(), "history.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		buf.Write(append(b, '\n'))
	}
	_, werr := f.Write(buf.Bytes())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	list := e.activeList()
	b, _ := json.MarshalIndent(list, "", "  ")
	return state.WriteFile(filepath.Join(e.dir(), "active.json"), b)
}

func (e *Engine) activeList() []Active {
	out := make([]Active, 0, len(e.active))
	for _, a := range e.active {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}

// Active returns the rules firing now.
func (e *Engine) Active() []Active {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.load()
	return e.activeList()
}

// History returns the last n events (all when n <= 0), oldest first.
func (e *Engine) History(n int) ([]Event, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.history(n)
}

func (e *Engine) history(n int) ([]Event, error) {
	f, err := os.Open(filepath.Join(e.dir(), "history.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil { // a torn last line (crash mid-append) is skipped
			out = append(out, ev)
		}
	}
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, sc.Err()
}

// Run evaluates every interval until ctx ends.
func (e *Engine) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		evs, err := e.Evaluate(ctx)
		if err != nil && e.Log != nil && ctx.Err() == nil {
			e.Log.Warn("alert evaluation", "error", err)
		}
		for _, ev := range evs {
			if e.Notify != nil {
				e.Notify(ev)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
