package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
)

// outcome is what came of one operation.
type outcome struct {
	op  plan.Operation
	err error
}

// execute applies operations of a plan, phase by phase in the plan's own
// order (plan.Phases: removes first, so the names and ports they free are
// available), with bounded parallelism inside a phase. It decides nothing:
// what to do, what to hold back and which image to use are the plan's
// (plan.Diff); it returns what came of each operation, in execution order,
// for the pass to learn from. A failed create or start never leaves a
// container behind.
func (s *Syncer) execute(ctx context.Context, ops []plan.Operation) []outcome {
	var out []outcome
	for _, phase := range plan.Phases(ops) {
		done := make([]outcome, len(phase))
		sem := make(chan struct{}, s.Parallel)
		var wg sync.WaitGroup
		for i, op := range phase {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				obj := Object{op.Kind, op.Name}
				err := s.apply(ctx, op)
				if err != nil {
					s.Log.Warn("sync", "op", op.Op.String(), "object", obj.String(), "error", err)
				} else {
					s.Log.Info("sync", "op", op.Op.String(), "object", obj.String(), "cause", op.Cause)
				}
				done[i] = outcome{op, err}
			}()
		}
		wg.Wait()
		out = append(out, done...)
	}
	return out
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
	case plan.Recreate, plan.Create:
		return s.create(ctx, op)
	}
	return fmt.Errorf("unknown operation %v", op.Op)
}

// create makes the operation's image present, removes the old container
// (a recreate), then creates and starts the new one. The image comes
// first: a pull that fails, or takes an hour, leaves the old container
// running.
func (s *Syncer) create(ctx context.Context, op plan.Operation) error {
	obj := Object{op.Kind, op.Name}
	s.setBusy(obj, "creating")
	defer s.setBusy(obj, "")
	spec := op.Desired.Spec
	spec.Name = op.Container
	// Labels (and so the spec hash) are computed from the spec as the files
	// say it, before the stub image name is resolved to its local tag: an
	// aima upgrade that rebuilds the stub image does not recreate services;
	// nor does a container made from an alternative image.
	spec.Labels = plan.Labels(*op.Desired, s.Instance)
	if op.Image != "" {
		spec.Image = op.Image
	}
	var err error
	if isStubImage(spec.Image) {
		if s.StubImage == nil {
			return fmt.Errorf("image %s: the stub engine image cannot be built here", spec.Image)
		}
		if spec.Image, err = s.StubImage(ctx); err != nil {
			return fmt.Errorf("image %s: %w", op.Desired.Spec.Image, err)
		}
	} else if err := s.pull(ctx, spec.Image); err != nil {
		return &pullError{image: spec.Image, err: err}
	}
	if op.Op == plan.Recreate {
		if err := s.Runtime.Remove(ctx, op.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			return fmt.Errorf("remove old container: %w", err)
		}
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

// pullError is an image that could not be had. When it is
// container.ErrImage (not a Docker outage, not a stalled pull) the pass
// plans again with the image among Options.ImageErrors, so the planner
// picks the next alternative.
type pullError struct {
	image string
	err   error
}

func (e *pullError) Error() string {
	return fmt.Sprintf("image %s is not available: %v", e.image, e.err)
}
func (e *pullError) Unwrap() error { return e.err }

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
