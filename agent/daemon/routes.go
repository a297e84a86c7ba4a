package daemon

import (
	"context"
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

// routeTable is the engine's routes as the gateway takes them.
func routeTable(ctx context.Context, s *agent.Syncer) (map[string][]gateway.Endpoint, error) {
	routes, err := s.Routes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]gateway.Endpoint, len(routes))
	for model, eps := range routes {
		for _, e := range eps {
			out[model] = append(out[model], gateway.Endpoint{URL: e.URL, Service: e.Service})
		}
	}
	return out, nil
}

// feedRoutes keeps the gateway's table current: after every sync pass that
// acted (passed on refresh) and every probeInterval. A request never waits
// for it.
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

// refreshFor re-derives the table on a gateway miss, but only for a model
// that has a service file (nil, nil otherwise): a misspelled model costs a
// file listing, not a status derivation.
func refreshFor(st *state.Store, s *agent.Syncer) func(ctx context.Context, model string) (map[string][]gateway.Endpoint, error) {
	return func(ctx context.Context, model string) (map[string][]gateway.Endpoint, error) {
		if !hasService(st, model) {
			return nil, nil
		}
		return routeTable(ctx, s)
	}
}

func hasService(st *state.Store, model string) bool {
	services, err := st.List(state.KindService)
	if err != nil {
		return false
	}
	for _, e := range services {
		if svc, ok := e.Object.(*state.Service); ok && svc.Model == model {
			return true
		}
	}
	return false
}
