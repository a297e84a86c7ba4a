package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	// Endpoint, when set, is the URL of a container's port for a runtime
	// whose containers are not reached on this machine's published ports
	// (Kubernetes: the Service's DNS name); "" keeps the published one.
	Endpoint func(c container.Container, port int) string
	Log      *slog.Logger
	// Parallel bounds concurrent container operations (default 16).
	Parallel int

	mu        sync.Mutex
	failures  map[Object]*failure
	restarts  map[Object]int
	recent    map[Object]int         // restarts within crashWindow of each other
	lastStart map[Object]time.Time   // when aima last restarted the container
	busy      map[Object]string      // "creating" / "starting" while an op runs
	pulls     map[string]*ollamaPull // model pulls into Ollama engines, by endpoint
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

// Plan observes and plans without changing anything (aima diff): what a
// pass would do now, and what it would hold back and why.
func (s *Syncer) Plan(ctx context.Context) (Result, error) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	return s.plan(ctx, s.head(), planInputs{now: time.Now()})
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

// planInputs is what a plan is for: a pass or a diff (now set: backoffs
// hold, host ports are probed), or a status (now zero: neither; the status
// reads the failures the passes recorded, and probing a port the agent is
// about to publish could take it from the container).
type planInputs struct {
	now time.Time
	// images that could not be had in this pass, with why.
	images map[string]string
}

// plan renders the files at revision rev, observes Docker, admits services
// into their resource slots and diffs, handing the planner what the agent
// knows: the objects that cannot run and why, their failures and when to
// retry, the host ports taken outside Docker, the images that could not be
// had. Every decision is the planner's.
func (s *Syncer) plan(ctx context.Context, rev string, in planInputs) (Result, error) {
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
	desired := make([]plan.Desired, 0, len(wanted))
	s.mu.Lock()
	for _, w := range wanted {
		var d plan.Desired
		switch {
		case w.Desired != nil:
			for _, r := range w.All() {
				d = *r
				if !in.now.IsZero() {
					d.Backoff = s.backoffOf(w.Object)
				}
				desired = append(desired, d)
			}
			continue
		case w.Running:
			d = plan.Desired{Kind: w.Object.Kind, Name: w.Object.Name, Running: true, Blocked: "cannot be rendered"}
			if w.Err != nil {
				d.Blocked = w.Err.Error()
			}
		default:
			d = plan.Desired{Kind: w.Object.Kind, Name: w.Object.Name, Elsewhere: w.Elsewhere}
		}
		desired = append(desired, d)
	}
	s.mu.Unlock()
	opts := plan.Options{Prune: s.Prune, Now: in.now, ImageErrors: in.images}
	// On a cluster a port is a Service's, not this machine's: what holds
	// it here is no reason to wait.
	if !in.now.IsZero() && !s.Host.Cluster {
		opts.HostPorts = takenPorts(desired, obs.All)
	}
	res.Plan = plan.Diff(desired, obs.All, s.Instance, opts)
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
//
// A pass plans, executes and learns: each operation's outcome goes into
// the failure memory (the next plan's Desired.Backoff), and so do the holds
// that are failures (a host port taken, no image). An image that could not
// be had is a fact about the world, not a failure yet: the pass plans
// again for the objects that needed it, with the image among
// Options.ImageErrors, so the planner picks the next alternative (or holds
// the object once none is left) within the same pass.
func (s *Syncer) pass(ctx context.Context, only map[Object]bool) (Result, error) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	unlock, err := s.lock(ctx)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	rev := s.head()
	images := map[string]string{}
	var res Result
	var done []plan.Operation       // what was executed, but for the pull failures a next round settles
	retry := only                   // the objects this round acts on (nil: every one)
	pending := map[Object]outcome{} // pull failures a next round is to settle
	for round := 0; ; round++ {
		r, err := s.plan(ctx, rev, planInputs{now: time.Now(), images: images})
		if err != nil {
			if round == 0 {
				return r, err
			}
			break // the pull failures stand as failures
		}
		r.Plan = limit(r.Plan, retry)
		if round == 0 {
			res = r
		} else {
			res.Plan.Held = slices.DeleteFunc(res.Plan.Held, func(h plan.Hold) bool { return retry[Object{h.Kind, h.Name}] })
			res.Plan.Held = append(res.Plan.Held, r.Plan.Held...)
			for o := range retry {
				delete(res.Errors, o)
				delete(pending, o)
			}
		}
		next := map[Object]bool{}
		for _, oc := range s.execute(ctx, r.Plan.Ops) {
			obj := Object{oc.op.Kind, oc.op.Name}
			var pe *pullError
			if errors.As(oc.err, &pe) && errors.Is(oc.err, container.ErrImage) {
				images[pe.image] = pe.err.Error()
				next[obj] = true
				pending[obj] = oc
				res.Errors[obj] = oc.err
				continue
			}
			done = append(done, oc.op)
			s.record(obj, oc.op, oc.err)
			if oc.err != nil {
				res.Errors[obj] = oc.err
			}
		}
		if len(next) == 0 {
			break
		}
		retry = next
	}
	for obj, oc := range pending {
		done = append(done, oc.op)
		s.record(obj, oc.op, oc.err)
	}
	// The plan of the pass is what it did: an attempt with an image that
	// could not be had gives way to the one that followed (its cause names
	// the images that could not be had).
	res.Plan.Ops = done
	recorded := map[Object]bool{} // once per object, however many replicas are held
	for _, h := range res.Plan.Held {
		obj := Object{h.Kind, h.Name}
		if h.Why != plan.HoldPort && h.Why != plan.HoldImage || recorded[obj] {
			continue
		}
		recorded[obj] = true
		err := heldError{h}
		s.record(obj, plan.Operation{Kind: h.Kind, Name: h.Name, Desired: desiredOf(res.Wanted, obj)}, err)
		res.Errors[obj] = err
	}
	slices.SortFunc(res.Plan.Held, func(a, b plan.Hold) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
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

// limit keeps the operations and holds of the objects of only (all when
// only is nil). Orphans, conflicts and unmanaged containers stay: they are
// reports, not actions.
func limit(p plan.Plan, only map[Object]bool) plan.Plan {
	if only == nil {
		return p
	}
	var ops []plan.Operation
	for _, op := range p.Ops {
		if only[Object{op.Kind, op.Name}] {
			ops = append(ops, op)
		}
	}
	var held []plan.Hold
	for _, h := range p.Held {
		if only[Object{h.Kind, h.Name}] {
			held = append(held, h)
		}
	}
	p.Ops, p.Held = ops, held
	return p
}

// desiredOf is the object's rendered container, nil when it has none.
func desiredOf(wanted []Wanted, obj Object) *plan.Desired {
	for _, w := range wanted {
		if w.Object == obj {
			return w.Desired
		}
	}
	return nil
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
