package pipeline

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/aima-dev/aima/state"
)

// Scheduler starts the runs of pipelines that have a schedule, in the
// agent. What it decided, and why:
//   - A pipeline's first scheduled run is its schedule's next occurrence
//     after the agent started or after the schedule was written: times
//     missed while the agent was down are not caught up (as cron does).
//   - A run is not started while the previous run of the same pipeline
//     still runs in this agent (Kubernetes CronJob's concurrencyPolicy:
//     Forbid): the occurrence is skipped and logged, never queued. Jobs on
//     GPUs that pile up are worse than one that is late.
//   - A scheduled run is an ordinary run with trigger "schedule" and the
//     input {"scheduled_at": RFC 3339}; it is listed, cancelled and survives
//     restarts like any other.
type Scheduler struct {
	Runner *Runner

	entries map[string]*scheduled
	stale   atomic.Bool // the pipeline files may have changed since read
	read    time.Time   // when they were last read
}

// reread is how long the scheduler trusts what it read without being told
// of a change: a safety net for a missed file event.
const reread = time.Minute

// Invalidate tells the scheduler the pipeline files may have changed (the
// agent's watcher calls it on every change); the next tick reads them.
func (s *Scheduler) Invalidate() { s.stale.Store(true) }

type scheduled struct {
	spec  string
	sched cron.Schedule
	next  time.Time
}

// Run ticks every second until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	s.Tick(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Tick(ctx, now)
		}
	}
}

// Tick starts the runs due at now and returns their ids. The pipeline files
// are read on the first tick, after Invalidate, when the clock went back,
// and at least once a minute; in between a tick does no I/O, so a schedule
// written, changed or removed takes effect on the tick after the watcher
// reports it.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) []string {
	if s.entries == nil || s.stale.Swap(false) || now.Sub(s.read) >= reread || now.Before(s.read) {
		if err := s.load(now); err != nil {
			s.Runner.log().Warn("pipeline schedules", "error", err)
			s.stale.Store(true)
			return nil
		}
	}
	var started []string
	for _, name := range slices.Sorted(maps.Keys(s.entries)) {
		en := s.entries[name]
		if now.Before(en.next) {
			continue
		}
		due := en.next
		en.next = en.sched.Next(now)
		if s.Runner.Running(name) {
			s.Runner.log().Warn("scheduled run skipped: the previous run is still going", "pipeline", name, "due", due, "next", en.next)
			continue
		}
		run, _, err := s.Runner.start(ctx, name, map[string]any{"scheduled_at": due.UTC().Format(time.RFC3339)}, "schedule")
		if err != nil {
			s.Runner.log().Warn("scheduled run", "pipeline", name, "error", err)
			continue
		}
		s.Runner.log().Info("scheduled run started", "pipeline", name, "run", run.ID, "next", en.next)
		started = append(started, run.ID)
	}
	return started
}

// load reads the schedules of the pipeline files. A pipeline whose schedule
// is new or changed is due at the schedule's next occurrence after now; one
// whose schedule is unchanged keeps its due time; the others are dropped.
func (s *Scheduler) load(now time.Time) error {
	entries, err := s.Runner.Env.Store.List(state.KindPipeline)
	if err != nil {
		return err
	}
	if s.entries == nil {
		s.entries = map[string]*scheduled{}
	}
	seen := map[string]bool{}
	for _, e := range entries {
		p, ok := e.Object.(*state.Pipeline)
		if !ok || p == nil || p.Schedule == "" {
			continue
		}
		if en := s.entries[p.Name]; en != nil && en.spec == p.Schedule {
			seen[p.Name] = true
			continue
		}
		sched, err := state.ParseSchedule(p.Schedule)
		if err != nil {
			continue // refused at write; a hand edit shows in aima status
		}
		s.entries[p.Name] = &scheduled{spec: p.Schedule, sched: sched, next: sched.Next(now)}
		seen[p.Name] = true
	}
	for name := range s.entries {
		if !seen[name] {
			delete(s.entries, name)
		}
	}
	s.read = now
	return nil
}
