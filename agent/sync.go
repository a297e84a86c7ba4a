package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/state"
)

// Syncer runs sync passes for one state directory: observe (one container
// list) → plan (pure) → execute. It remembers, in memory only, what failed
// and when to retry; everything else is re-read on every pass, so a pass is
// level-triggered and a fresh Syncer after a restart behaves the same.
type Syncer struct {
	Store    *state.Store
	Runtime  container.Runtime
	Instance string
	Prune    bool
	Host     Host
	// StubImage builds (if needed) the stub engine image and returns its
	// tag; services whose engine image is "aima-stub" use it.
	StubImage func(ctx context.Context) (string, error)
	Log       *slog.Logger
	// Parallel bounds concurrent container operations (default 16).
	Parallel int

	mu        sync.Mutex
	failures  map[Object]*failure
	restarts  map[Object]int
	recent    map[Object]int       // restarts within crashWindow of each other
	lastStart map[Object]time.Time // when aima last restarted the container
	busy      map[Object]string    // "creating" / "starting" while an op runs
}

// failure is why an object could not be converged, and when to try again.
type failure struct {
	reason   string
	since    time.Time
	attempts int
	next     time.Time
	hash     string // the desired spec it failed for; a new spec retries at once
	// render: the files could not be rendered. Such a failure lasts only
	// as long as the files stay broken; it is forgotten once they render.
	render bool
	// crash: a crash loop. It is forgotten once the container has run
	// for stableAfter since its last restart.
	crash bool
}

// A container restarted more than once within crashWindow is in a crash
// loop; one that has then run for stableAfter is out of it.
const (
	crashWindow = 10 * time.Minute
	stableAfter = time.Minute
)

// Result is one pass: what was planned and what came of it.
type Result struct {
	Plan     plan.Plan
	Wanted   []Wanted
	Observed Observed
	Errors   map[Object]error // per-object failures of this pass
	Held     []Object         // objects left alone this pass (backing off, or cannot be rendered)
}

// Backoff bounds.
const (
	backoffMin = time.Second
	backoffMax = 5 * time.Minute
)

func (s *Syncer) init() {
	if s.failures == nil {
		s.failures = map[Object]*failure{}
		s.restarts = map[Object]int{}
		s.recent = map[Object]int{}
		s.lastStart = map[Object]time.Time{}
		s.busy = map[Object]string{}
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Parallel <= 0 {
		s.Parallel = 16
	}
}

// Plan observes and plans without changing anything (aima diff).
func (s *Syncer) Plan(ctx context.Context) (Result, error) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	return s.plan(ctx, time.Time{}, s.head())
}

// head is the commit the files are at ("" before the first one): the
// aima.revision label of the containers a pass creates.
func (s *Syncer) head() string {
	if r, err := s.Store.Repo(); err == nil {
		rev, _ := r.Head()
		return rev
	}
	return ""
}

// plan renders the files at revision rev, observes Docker and diffs.
// Objects that cannot be rendered, or are backing off after a failure
// (unless now is zero), are held: left out of both sides, so the planner
// neither creates them nor removes their containers as orphans.
func (s *Syncer) plan(ctx context.Context, now time.Time, rev string) (Result, error) {
	wanted, err := Render(s.Store, s.Host, rev)
	if err != nil {
		return Result{}, err
	}
	obs, err := observe(ctx, s.Runtime, s.Instance)
	if err != nil {
		return Result{Wanted: wanted}, err
	}
	if _, err := budget(s.Store, wanted, obs); err != nil {
		return Result{Wanted: wanted}, err
	}
	s.forgetStable(obs)
	res := Result{Wanted: wanted, Observed: obs, Errors: map[Object]error{}}
	held := map[Object]bool{}
	var desired []plan.Desired
	s.mu.Lock()
	for _, w := range wanted {
		if w.Running && w.Desired == nil {
			held[w.Object] = true
			continue
		}
		if f := s.failures[w.Object]; f != nil && !now.IsZero() && now.Before(f.next) && w.Desired != nil && f.hash == plan.Hash(w.Desired.Spec) {
			held[w.Object] = true
			continue
		}
		if w.Desired != nil {
			desired = append(desired, *w.Desired)
		} else {
			desired = append(desired, plan.Desired{Kind: w.Object.Kind, Name: w.Object.Name, Running: false})
		}
	}
	s.mu.Unlock()
	var observed []container.Container
	for _, c := range obs.All {
		o := Object{c.Labels[container.LabelKind], c.Labels[container.LabelName]}
		if container.Owned(c.Labels, s.Instance) && held[o] {
			continue
		}
		observed = append(observed, c)
	}
	for o := range held {
		res.Held = append(res.Held, o)
	}
	res.Plan = plan.Diff(desired, observed, s.Instance, plan.Options{Prune: s.Prune})
	return res, nil
}

// Pass runs one sync pass under the state directory's sync lock, so that
// the agent and a CLI `aima sync` never act at the same time.
func (s *Syncer) Pass(ctx context.Context) (Result, error) { return s.pass(ctx, nil) }

// PassOf is a pass that acts on objs only: the plan is made from every file
// and container, as for Pass (so ports and names held by others are seen),
// but only the operations on objs are executed; Result.Plan holds just
// those. It is `aima service start|stop X` without an agent: X converges
// and no other container is touched, whatever else differs from the files.
func (s *Syncer) PassOf(ctx context.Context, objs ...Object) (Result, error) {
	only := map[Object]bool{}
	for _, o := range objs {
		only[o] = true
	}
	return s.pass(ctx, only)
}

// pass is Pass, limited to the objects of only when it is not nil.
func (s *Syncer) pass(ctx context.Context, only map[Object]bool) (Result, error) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	unlock, err := s.lock(ctx)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	res, err := s.plan(ctx, time.Now(), s.head())
	if err != nil {
		return res, err
	}
	if only != nil {
		var ops []plan.Operation
		for _, op := range res.Plan.Ops {
			if only[Object{op.Kind, op.Name}] {
				ops = append(ops, op)
			}
		}
		res.Plan.Ops = ops
	}
	s.execute(ctx, &res)
	s.mu.Lock()
	// Objects that render with an error are failed (terminal until the files
	// change); clear failures of objects that are now fine or gone. A
	// limited pass learns about its objects only.
	present := map[Object]bool{}
	for _, w := range res.Wanted {
		present[w.Object] = true
		if only != nil && !only[w.Object] {
			continue
		}
		if w.Running && w.Err != nil {
			s.failures[w.Object] = &failure{reason: w.Err.Error(), since: s.since(w.Object), next: time.Now().Add(backoffMax), render: true}
		}
		if f := s.failures[w.Object]; w.Err == nil && f != nil && f.render {
			delete(s.failures, w.Object)
		}
		if !w.Running {
			delete(s.failures, w.Object)
			delete(s.restarts, w.Object)
		}
	}
	for o := range s.failures {
		if !present[o] && only == nil {
			delete(s.failures, o)
			delete(s.restarts, o)
		}
	}
	s.mu.Unlock()
	return res, nil
}

func (s *Syncer) since(o Object) time.Time {
	if f := s.failures[o]; f != nil {
		return f.since
	}
	return time.Now()
}

// NextRetry is when the earliest backing-off object may be tried again.
func (s *Syncer) NextRetry() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, f := range s.failures {
		if next.IsZero() || f.next.Before(next) {
			next = f.next
		}
	}
	return next, !next.IsZero()
}

// lock takes the cross-process sync lock (.local/sync.lock).
func (s *Syncer) lock(ctx context.Context) (func(), error) {
	dir := filepath.Join(s.Store.Dir, ".local")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	fl := flock.New(filepath.Join(dir, "sync.lock"))
	ok, err := fl.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("sync lock: %w", err)
	}
	if !ok {
		return nil, errors.New("sync lock: not acquired")
	}
	return func() { _ = fl.Unlock() }, nil
}

// forgetStable ends the crash loop of containers that have been running
// for stableAfter since aima last restarted them.
func (s *Syncer) forgetStable(obs Observed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for o, f := range s.failures {
		if !f.crash || time.Since(s.lastStart[o]) < stableAfter {
			continue
		}
		if c, ok := obs.find(o); ok && c.State == container.StateRunning {
			delete(s.failures, o)
			s.recent[o] = 0
		}
	}
}
