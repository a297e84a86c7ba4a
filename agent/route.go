package agent

import (
	"context"
	"fmt"
	"sort"

	"github.com/aima-dev/aima/state"
)

// ErrNoService: a model has no running service to answer for it.
var ErrNoService = fmt.Errorf("%w: no running service", state.ErrNotFound)

// Route is where a model is served: a running service's base URL.
type Route struct {
	Service string
	URL     string
}

// Routes derives, in one status derivation, every model's endpoints: those
// of its running (healthy) services, by service name. The gateway's table
// and Route are both this.
func (s *Syncer) Routes(ctx context.Context) (map[string][]Route, error) {
	sts, err := s.Statuses(ctx)
	if err != nil && sts == nil {
		return nil, err
	}
	services, err := s.Store.List(state.KindService)
	if err != nil {
		return nil, err
	}
	routes := map[string][]Route{}
	for _, e := range services {
		svc, ok := e.Object.(*state.Service)
		if !ok || svc.Model == "" {
			continue
		}
		st := sts[Object{state.KindService.Name, svc.Name}]
		if st.Status == StatusRunning && st.Endpoint != "" {
			routes[svc.Model] = append(routes[svc.Model], Route{Service: svc.Name, URL: st.Endpoint})
		}
	}
	for _, eps := range routes {
		sort.Slice(eps, func(i, j int) bool { return eps[i].Service < eps[j].Service })
	}
	return routes, nil
}

// Route returns the endpoint of a running service of model (the first by
// name, so the choice is stable), or NoRoute's error.
func (s *Syncer) Route(ctx context.Context, model string) (string, error) {
	routes, err := s.Routes(ctx)
	if err != nil {
		return "", err
	}
	if eps := routes[model]; len(eps) > 0 {
		return eps[0].URL, nil
	}
	return "", NoRoute(s.Store, model)
}

// NoRoute says why model has no endpoint: it is not a model of this state,
// or no service of it runs.
func NoRoute(st *state.Store, model string) error {
	if _, err := st.Get(state.KindModel, model); err != nil {
		return fmt.Errorf("model %q: %w (aima model list shows the models)", model, state.ErrNotFound)
	}
	return fmt.Errorf("model %q: %w (aima service create --model-id %s --engine-type stub)", model, ErrNoService, model)
}
