package agent

import (
	"context"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
)

// Observed is what Docker says, split by ownership: ours (aima.managed=true
// and our instance label) and others (any other container with an aima
// label: reported, never touched).
type Observed struct {
	Ours   []container.Container
	Others []container.Container
	All    []container.Container // as listed, for the planner
}

// observe lists the aima-labelled containers in one call.
func observe(ctx context.Context, rt container.Runtime, instance string) (Observed, error) {
	list, err := rt.List(ctx)
	if err != nil {
		return Observed{}, err
	}
	o := Observed{All: list}
	for _, c := range list {
		if container.Owned(c.Labels, instance) {
			o.Ours = append(o.Ours, c)
		} else {
			o.Others = append(o.Others, c)
		}
	}
	return o, nil
}

// find returns our container for the object (its first replica),
// preferring a running one.
func (o Observed) find(obj Object) (container.Container, bool) { return o.findReplica(obj, 1) }

// findReplica returns our container for replica n of the object (from 1),
// preferring a running one.
func (o Observed) findReplica(obj Object, n int) (container.Container, bool) {
	var best container.Container
	found := false
	for _, c := range o.Ours {
		if c.Labels[container.LabelKind] != obj.Kind || c.Labels[container.LabelName] != obj.Name || plan.Replica(c.Labels) != max(n, 1) {
			continue
		}
		if !found || (c.State == container.StateRunning && best.State != container.StateRunning) || c.Created.After(best.Created) && best.State != container.StateRunning {
			best, found = c, true
		}
	}
	return best, found
}
