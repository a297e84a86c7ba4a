package agent

import (
	"context"
	"fmt"
	"sort"

	"github.com/aima-dev/aima/state"
)

// ErrNoService: a model has no running service to answer for it.
var ErrNoService = fmt.Errorf("%w: no running service", state.ErrNotFound)

// Route is where a model is served: a running service's (or one of its
// replicas') base URL.
type Route struct {
	Service string // the service, "qwen"; "qwen[2]" for its replica 2
	URL     string
}

// Routes derives, in one status derivation, every model's endpoints: those
// of its running (healthy) services and replicas, by service name and
// replica. The gateway's table and Route are both this.
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
		rs := st.Replicas
		if len(rs) == 0 {
			rs = []Status{st}
		}
		for _, r := range rs {
			if r.Status == StatusRunning && r.Endpoint != "" {
				name := svc.Name
				if r.Replica > 1 {
					name = fmt.Sprintf("%s[%d]", svc.Name, r.Replica)
				}
				routes[svc.Model] = append(routes[svc.Model], Route{Service: name, URL: r.Endpoint})
			}
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
