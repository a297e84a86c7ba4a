package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/gateway"
	"github.com/aima-dev/aima/state"
)

// probeInterval is how often the gateway's route table is re-derived from
// Docker and the health probes between sync passes: an endpoint that turns
// unhealthy leaves the table within it.
const probeInterval = 2 * time.Second

// routeTable derives the gateway's table: every model with the endpoints of
// its running (healthy) services.
func routeTable(ctx context.Context, s *agent.Syncer) (map[string][]gateway.Endpoint, error) {
	sts, err := s.Statuses(ctx)
	if err != nil && sts == nil {
		return nil, err
	}
	services, err := s.Store.List(state.KindService)
	if err != nil {
		return nil, err
	}
	routes := map[string][]gateway.Endpoint{}
	for _, e := range services {
		svc, ok := e.Object.(*state.Service)
		if !ok || svc.Model == "" {
			continue
		}
		st := sts[agent.Object{Kind: state.KindService.Name, Name: svc.Name}]
		if st.Status == agent.StatusRunning && st.Endpoint != "" {
			routes[svc.Model] = append(routes[svc.Model], gateway.Endpoint{URL: st.Endpoint, Service: svc.Name})
		}
	}
	return routes, nil
}

// feedRoutes keeps the gateway's table current: after every sync pass
// (passed on refresh) and every probeInterval. A request never waits for it.
func feedRoutes(ctx context.Context, s *agent.Syncer, g *gateway.Gateway, refresh <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		routes, err := routeTable(rctx, s)
		cancel()
		if err == nil {
			g.SetRoutes(routes)
		} else if ctx.Err() == nil {
			log.Debug("gateway routes", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-refresh:
		}
	}
}

// explain says why a model has no endpoint in the gateway's table.
func explain(st *state.Store) func(model string) error {
	return func(model string) error {
		if _, err := st.Get(state.KindModel, model); err != nil {
			return fmt.Errorf("model %q: %w (aima model list shows the models)", model, state.ErrNotFound)
		}
		return fmt.Errorf("model %q: %w (aima service create --model-id %s --engine-type stub)", model, agent.ErrNoService, model)
	}
}
