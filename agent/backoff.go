package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
)

// The failure memory: what passes learn from their outcomes (and from the
// holds that are failures), and when an object may be tried again. The
// planner reads it as Desired.Backoff and decides whether to hold; nothing
// here acts.

// backoffOf is what the planner is told of the object's failures; s.mu is
// held.
func (s *Syncer) backoffOf(obj Object) *plan.Backoff {
	f := s.failures[obj]
	if f == nil {
		return nil
	}
	return &plan.Backoff{Retry: f.next, Attempts: f.attempts, Reason: f.reason, CrashLoop: f.crash, Spec: f.hash}
}

// heldError is the failure of an object the plan holds as unable to run
// for a reason found on the host (a port taken, no image): it is retried
// with backoff, as a failed operation is.
type heldError struct{ h plan.Hold }

func (e heldError) Error() string { return e.h.Cause }

func (e heldError) Unwrap() error {
	if e.h.Why == plan.HoldImage {
		return container.ErrImage
	}
	return nil
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
