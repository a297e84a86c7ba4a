package daemon

import (
	"context"
	"strconv"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/alert"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// AlertEngine wires the alert rules to the host's metrics and the derived
// service statuses; stop_service stops through the files like the CLI does.
func AlertEngine(st *state.Store, s *agent.Syncer, kick func()) *alert.Engine {
	host := &alert.Host{}
	return &alert.Engine{
		Store: st,
		Sample: func(ctx context.Context) alert.Sample {
			smp := alert.Sample{Metrics: host.Metrics(ctx), Services: map[string]alert.Service{}}
			sts, _ := s.Statuses(ctx)
			failed, running := 0, 0
			for o, st := range sts {
				if o.Kind != "service" {
					continue
				}
				smp.Services[o.Name] = alert.Service{Status: st.Status, Restarts: st.Restarts}
				switch st.Status {
				case agent.StatusRunning:
					running++
				case agent.StatusFailed, agent.StatusUnhealthy:
					failed++
				}
			}
			smp.Metrics["services_failed"] = float64(failed)
			smp.Metrics["services_running"] = float64(running)
			return smp
		},
		StopService: func(ctx context.Context, name string) error {
			_, err := agent.SetState(st.As(alertAuthor(st)), state.KindService, name, "stopped")
			if err == nil && kick != nil {
				kick()
			}
			return err
		},
		Log: s.Log,
	}
}

func alertAuthor(st *state.Store) repo.Signature {
	return repo.Signature{Name: "aima-alert", Email: st.Author.Email}
}

// alertUnits is unit.Alerts on the alert engine.
type alertUnits struct{ e *alert.Engine }

func (a alertUnits) Active() []map[string]any {
	items := []map[string]any{}
	for _, al := range a.e.Active() {
		items = append(items, map[string]any{"id": al.Rule, "name": al.Rule, "rule": al.Rule, "severity": al.Severity, "condition": al.Condition, "since": al.Since, "notified": al.Notified})
	}
	return items
}

func (a alertUnits) History(n int) ([]map[string]any, error) {
	evs, err := a.e.History(n)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for i, ev := range evs {
		out = append(out, map[string]any{"id": strconv.Itoa(i + 1), "name": ev.Rule, "rule": ev.Rule, "state": ev.State, "severity": ev.Severity, "condition": ev.Condition, "action": ev.Action, "result": ev.Result, "at": ev.At})
	}
	return out, nil
}
