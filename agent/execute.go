package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
)

// execute applies a plan's operations, phase by phase (removes first, so
// the names and ports they free are available), with bounded parallelism
// inside a phase. It decides nothing: every operation comes from the plan.
// Failures are recorded per object, with backoff; a failed create or start
// never leaves a container behind.
func (s *Syncer) execute(ctx context.Context, res *Result) {
	var phases [][]plan.Operation
	last := -1
	for _, op := range res.Plan.Ops {
		ph := phaseOf(op.Op)
		if ph != last {
			phases = append(phases, nil)
			last = ph
		}
		phases[len(phases)-1] = append(phases[len(phases)-1], op)
	}
	var mu sync.Mutex
	for _, ops := range phases {
		sem := make(chan struct{}, s.Parallel)
		var wg sync.WaitGroup
		for _, op := range ops {
			obj := Object{op.Kind, op.Name}
			if s.restartHeld(obj, op) {
				mu.Lock()
				res.Held = append(res.Held, obj)
				mu.Unlock()
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				err := s.apply(ctx, op)
				s.record(obj, op, err)
				if err != nil {
					s.Log.Warn("sync", "op", op.Op.String(), "object", obj.String(), "error", err)
					mu.Lock()
					res.Errors[obj] = err
					mu.Unlock()
				} else {
					s.Log.Info("sync", "op", op.Op.String(), "object", obj.String(), "cause", op.Cause)
				}
			}()
		}
		wg.Wait()
	}
}

func phaseOf(o plan.Op) int {
	switch o {
	case plan.Remove:
		return 0
	case plan.Recreate:
		return 1
	case plan.Create:
		return 2
	default:
		return 3
	}
}

// restartHeld: a container that keeps exiting is restarted with
// exponential backoff, not in a tight loop.
func (s *Syncer) restartHeld(obj Object, op plan.Operation) bool {
	if op.Op != plan.Start {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[obj]
	return f != nil && time.Now().Before(f.next)
}

func (s *Syncer) apply(ctx context.Context, op plan.Operation) error {
	obj := Object{op.Kind, op.Name}
	switch op.Op {
	case plan.Remove:
		if err := s.Runtime.Remove(ctx, op.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			return err
		}
		return nil
	case plan.Stop:
		return s.Runtime.Stop(ctx, op.ID, 10*time.Second)
	case plan.Start:
		// As for a create: a foreign process on the port is named, not
		// left to Docker's "address already in use"; and the container,
		// which cannot start, is removed.
		if err := checkPorts(op); err != nil {
			_ = s.Runtime.Remove(context.WithoutCancel(ctx), op.ID)
			return err
		}
		s.mu.Lock()
		s.restarts[obj]++
		if time.Since(s.lastStart[obj]) > crashWindow {
			s.recent[obj] = 0
		}
		s.recent[obj]++
		s.lastStart[obj] = time.Now()
		s.mu.Unlock()
		s.setBusy(obj, "starting")
		defer s.setBusy(obj, "")
		if err := s.Runtime.Start(ctx, op.ID); err != nil {
			// A container that cannot start is removed; the next pass
			// creates it afresh.
			_ = s.Runtime.Remove(context.WithoutCancel(ctx), op.ID)
			return fmt.Errorf("start: %w", err)
		}
		return nil
	case plan.Recreate:
		if err := s.Runtime.Remove(ctx, op.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			return fmt.Errorf("remove old container: %w", err)
		}
		return s.create(ctx, op)
	case plan.Create:
		return s.create(ctx, op)
	}
	return fmt.Errorf("unknown operation %v", op.Op)
}

func (s *Syncer) create(ctx context.Context, op plan.Operation) error {
	obj := Object{op.Kind, op.Name}
	s.setBusy(obj, "creating")
	defer s.setBusy(obj, "")
	spec := op.Desired.Spec
	spec.Name = op.Container
	// Labels (and so the spec hash) are computed from the spec as the files
	// say it, before the stub image name is resolved to its local tag: an
	// aima upgrade that rebuilds the stub image does not recreate services.
	spec.Labels = plan.Labels(*op.Desired, s.Instance)
	var err error
	if isStubImage(spec.Image) {
		if s.StubImage == nil {
			return fmt.Errorf("image %s: the stub engine image cannot be built here", spec.Image)
		}
		if spec.Image, err = s.StubImage(ctx); err != nil {
			return fmt.Errorf("image %s: %w", op.Desired.Spec.Image, err)
		}
	} else if spec.Image, err = s.image(ctx, spec.Image, op.Desired.Alternatives); err != nil {
		return err
	}
	if err := checkPorts(op); err != nil {
		return err
	}
	id, err := s.Runtime.Create(ctx, spec)
	if err != nil {
		return fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	s.setBusy(obj, "starting")
	if err := s.Runtime.Start(ctx, id); err != nil {
		// No leftovers: a container that did not start is removed.
		_ = s.Runtime.Remove(context.WithoutCancel(ctx), id)
		return fmt.Errorf("start container %s: %w", spec.Name, err)
	}
	return nil
}

// checkPorts fails, naming the holder, when a host port the operation's
// container publishes is already taken on the host.
func checkPorts(op plan.Operation) error {
	if op.Desired == nil {
		return nil
	}
	for _, p := range op.Desired.Spec.Ports {
		if who := portHolder(p.HostPort); who != "" {
			return fmt.Errorf("port %d is in use by %s", p.HostPort, who)
		}
	}
	return nil
}

// image makes the engine's image present and returns it: the main image
// when it is here or can be pulled, else the first of the alternatives that
// is or can be. A Docker outage or a stalled pull ends the search (trying
// more images cannot help); the error names every image tried and why.
func (s *Syncer) image(ctx context.Context, main string, alternatives []string) (string, error) {
	var tried []string
	for _, ref := range append([]string{main}, alternatives...) {
		err := s.pull(ctx, ref)
		if err == nil {
			if ref != main {
				s.Log.Warn("using an alternative image", "image", ref, "instead_of", main, "because", strings.Join(tried, "; "))
			}
			return ref, nil
		}
		if !errors.Is(err, container.ErrImage) || len(alternatives) == 0 {
			return "", fmt.Errorf("image %s is not available: %w", ref, err)
		}
		tried = append(tried, fmt.Sprintf("%s: %v", ref, err))
	}
	return "", fmt.Errorf("%w: no image of the engine could be had; tried %s", container.ErrImage, strings.Join(tried, "; "))
}

// pullStall bounds a pull that makes no progress: a registry that drops
// packets must not hang the pass. A slow but moving pull (a 10 GB vLLM
// image) is never cut off.
var pullStall = 2 * time.Minute

func (s *Syncer) pull(ctx context.Context, image string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("pull stalled: no progress for %s", pullStall)
	watchdog := time.AfterFunc(pullStall, func() { cancel(stalled) })
	defer watchdog.Stop()
	err := s.Runtime.EnsureImage(ctx, image, func(line string) {
		watchdog.Reset(pullStall)
		s.Log.Debug("pull", "image", image, "progress", line)
	})
	if context.Cause(ctx) == stalled {
		return stalled
	}
	return err
}

func (s *Syncer) setBusy(obj Object, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if what == "" {
		delete(s.busy, obj)
	} else {
		s.busy[obj] = what
	}
}

// record keeps the outcome of an operation: a failure backs off
// exponentially; a success clears it (but not the restart count).
func (s *Syncer) record(obj Object, op plan.Operation, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if op.Op == plan.Start && s.recent[obj] > 1 {
			// Restarting an exiting container again and again is a crash
			// loop: keep it visible and slow it down.
			f := s.failures[obj]
			if f == nil {
				f = &failure{since: time.Now()}
				s.failures[obj] = f
			}
			f.attempts++
			f.crash = true
			f.reason = fmt.Sprintf("crash loop: the container exited and was restarted %d times in %s", s.recent[obj], crashWindow)
			f.next = time.Now().Add(backoff(f.attempts))
			f.hash = specHash(op)
			return
		}
		if op.Op != plan.Start {
			delete(s.failures, obj)
		}
		return
	}
	if errors.Is(err, container.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return // Docker down or shutting down: status says unknown; not the object's fault
	}
	f := s.failures[obj]
	if f == nil {
		f = &failure{since: time.Now()}
		s.failures[obj] = f
	}
	f.attempts++
	f.reason = err.Error()
	f.next = time.Now().Add(backoff(f.attempts))
	f.hash = specHash(op)
}

func specHash(op plan.Operation) string {
	if op.Desired == nil {
		return ""
	}
	return plan.Hash(op.Desired.Spec)
}

func backoff(attempts int) time.Duration {
	d := backoffMin
	for i := 1; i < attempts && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}
