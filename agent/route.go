package agent

import (
	"context"
	"fmt"
	"sort"

	"github.com/aima-dev/aima/state"
)

// ErrNoService: a model has no running service to answer for it.
var ErrNoService = fmt.Errorf("%w: no running service", state.ErrNotFound)

// Route returns the endpoint of a running service of model (healthy
// first, then by name, so the choice is stable).
func (s *Syncer) Route(ctx context.Context, model string) (string, error) {
	if _, err := s.Store.Get(state.KindModel, model); err != nil {
		return "", fmt.Errorf("model %q: %w (aima model list shows the models)", model, state.ErrNotFound)
	}
	sts, err := s.Statuses(ctx)
	if err != nil {
		return "", err
	}
	services, err := s.Store.List(state.KindService)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range services {
		if svc, ok := e.Object.(*state.Service); ok && svc.Model == model {
			if sts[Object{"service", svc.Name}].Status == StatusRunning {
				names = append(names, svc.Name)
			}
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("model %q: %w (aima service create --model-id %s --engine-type stub)", model, ErrNoService, model)
	}
	sort.Strings(names)
	return sts[Object{"service", names[0]}].Endpoint, nil
}
