package agent

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/state"
)

// SlotUsage is one resource slot: its limit and what each service draws.
type SlotUsage struct {
	Name     string             `json:"name"`
	Type     string             `json:"type"`
	Limit    float64            `json:"limit"` // bytes for memory types, CPUs for cpu
	Used     float64            `json:"used"`
	Services map[string]float64 `json:"services"` // admitted services and their share
	Refused  map[string]string  `json:"refused,omitempty"`
}

// demand is what a service draws from a slot of type t: its memory limit,
// its CPU limit, or (gpu_memory) the size of its model's weights, once per
// replica.
func demand(st *state.Store, svc *state.Service, t string) float64 {
	return float64(svc.ReplicaCount()) * demandOfOne(st, svc, t)
}

func demandOfOne(st *state.Store, svc *state.Service, t string) float64 {
	switch t {
	case "memory":
		b, _ := ParseSize(svc.Memory)
		return float64(b)
	case "cpu":
		return svc.CPUs
	case "gpu_memory":
		if e, err := st.Get(state.KindModel, svc.Model); err == nil && e.Object != nil {
			b, _ := ParseSize(e.Object.(*state.Model).Size)
			return float64(b)
		}
	}
	return 0
}

func parseLimit(t, limit string) (float64, error) {
	if t == "cpu" {
		return strconv.ParseFloat(limit, 64)
	}
	b, err := ParseSize(limit)
	return float64(b), err
}

// applies reports whether a slot's applies_to selects the service: a
// service name, or a label selector key=value. An empty list selects all.
func applies(r *state.Resource, svc *state.Service) bool {
	if len(r.AppliesTo) == 0 {
		return true
	}
	for _, sel := range r.AppliesTo {
		if k, v, ok := strings.Cut(sel, "="); ok {
			if svc.Labels[k] == v {
				return true
			}
		} else if sel == svc.Name {
			return true
		}
	}
	return false
}

// budget admits running services into the resource slots, higher-priority
// slots first. Services that already have a running container are admitted
// first, so a new service never evicts a running one; the others in name
// order. A service that does not fit is held with the reason.
func budget(st *state.Store, wanted []Wanted, obs Observed) ([]SlotUsage, error) {
	entries, err := st.List(state.KindResource)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	var slots []*state.Resource
	for _, e := range entries {
		if r, ok := e.Object.(*state.Resource); ok && r.Limit != "" {
			slots = append(slots, r)
		}
	}
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].Priority > slots[j].Priority })
	order := make([]int, 0, len(wanted))
	for i, w := range wanted {
		if w.Object.Kind == "service" && w.Running && w.Service != nil {
			order = append(order, i)
		}
	}
	running := func(w Wanted) bool {
		c, ok := obs.find(w.Object)
		return ok && c.State == container.StateRunning
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra, rb := running(wanted[order[a]]), running(wanted[order[b]])
		if ra != rb {
			return ra
		}
		return wanted[order[a]].Object.Name < wanted[order[b]].Object.Name
	})
	var out []SlotUsage
	for _, r := range slots {
		limit, err := parseLimit(r.Type, r.Limit)
		if err != nil {
			continue
		}
		u := SlotUsage{Name: r.Name, Type: r.Type, Limit: limit, Services: map[string]float64{}, Refused: map[string]string{}}
		for _, i := range order {
			w := &wanted[i]
			if !applies(r, w.Service) {
				continue
			}
			need := demand(st, w.Service, r.Type)
			if w.Err == nil && u.Used+need > limit {
				w.Err = fmt.Errorf("resource slot %q is exhausted: %s of %s used by %s; this service needs %s",
					r.Name, amount(r.Type, u.Used), amount(r.Type, limit), strings.Join(names(u.Services), ", "), amount(r.Type, need))
				w.Desired, w.More = nil, nil
				u.Refused[w.Object.Name] = w.Err.Error()
				continue
			}
			if w.Err == nil {
				u.Used += need
				u.Services[w.Object.Name] = need
			}
		}
		out = append(out, u)
	}
	return out, nil
}

func names(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"nothing"}
	}
	return out
}

func amount(t string, v float64) string {
	if t == "cpu" {
		return strconv.FormatFloat(v, 'f', -1, 64) + " CPUs"
	}
	return strconv.FormatFloat(v/(1<<30), 'f', 1, 64) + " GiB"
}
