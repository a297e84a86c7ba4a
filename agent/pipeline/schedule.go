package pipeline

import (
	"context"
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
}

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

// Tick starts the runs due at now and returns their ids. Pipelines are
// read from the files at every tick, so a schedule written, changed or
// removed takes effect on the next one.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) []string {
	if s.entries == nil {
		s.entries = map[string]*scheduled{}
	}
	entries, err := s.Runner.Env.Store.List(state.KindPipeline)
	if err != nil {
		s.Runner.log().Warn("pipeline schedules", "error", err)
		return nil
	}
	seen := map[string]bool{}
	var started []string
	for _, e := range entries {
		p, ok := e.Object.(*state.Pipeline)
		if !ok || p == nil || p.Schedule == "" {
			continue
		}
		seen[p.Name] = true
		en := s.entries[p.Name]
		if en == nil || en.spec != p.Schedule {
			sched, err := state.ParseSchedule(p.Schedule)
			if err != nil {
				continue // refused at write; a hand edit shows in aima status
			}
			en = &scheduled{spec: p.Schedule, sched: sched, next: sched.Next(now)}
			s.entries[p.Name] = en
			continue
		}
		if now.Before(en.next) {
			continue
		}
		due := en.next
		en.next = en.sched.Next(now)
		if s.Runner.Running(p.Name) {
			s.Runner.log().Warn("scheduled run skipped: the previous run is still going", "pipeline", p.Name, "due", due, "next", en.next)
			continue
		}
		run, _, err := s.Runner.start(ctx, p.Name, map[string]any{"scheduled_at": due.UTC().Format(time.RFC3339)}, "schedule")
		if err != nil {
			s.Runner.log().Warn("scheduled run", "pipeline", p.Name, "error", err)
			continue
		}
		s.Runner.log().Info("scheduled run started", "pipeline", p.Name, "run", run.ID, "next", en.next)
		started = append(started, run.ID)
	}
	for name := range s.entries {
		if !seen[name] {
			delete(s.entries, name)
		}
	}
	return started
}
