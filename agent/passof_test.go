package agent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestPassOfActsOnOneObject: `aima service stop X` without an agent runs a
// pass limited to X. Everything else that differs from the files (a
// changed service, a new one, an orphan) is left for the agent or aima
// sync: no other container is created, recreated or removed.
func TestPassOfActsOnOneObject(t *testing.T) {
	e := newFakeEnv(t)
	ports := map[int]bool{}
	port := func() int {
		for {
			if p := testenv.FreePort(t); !ports[p] {
				ports[p] = true
				return p
			}
		}
	}
	a := addService(t, e.st, "a", "tiny", "stub", port(), nil)
	b := addService(t, e.st, "b", "tiny", "stub", port(), nil)
	orphan := addService(t, e.st, "orphan", "tiny", "stub", port(), nil)
	pass(t, e.s)
	before := map[string]string{}
	for _, c := range e.ours(t) {
		before[c.Labels[container.LabelName]] = c.ID
	}

	updateService(t, e.st, "b", func(s *state.Service) { s.Env = map[string]string{"MODE": "fast"} }) // b: recreate
	c := addService(t, e.st, "c", "tiny", "stub", port(), nil)                                        // c: create
	if err := e.st.Delete(state.KindService, "orphan", ""); err != nil {                              // orphan: remove
		t.Fatal(err)
	}
	setState(t, e.st, "a", "stopped") // a: remove

	res, err := e.s.PassOf(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, op := range res.Plan.Ops {
		ops = append(ops, op.String())
	}
	if diff := cmp.Diff([]string{"- service/a remove (state: stopped)"}, ops); diff != "" {
		t.Errorf("PassOf(a) ops (-want +got):\n%s", diff)
	}
	after := map[string]string{}
	for _, c := range e.ours(t) {
		after[c.Labels[container.LabelName]] = c.ID
	}
	want := map[string]string{"b": before["b"], "orphan": before["orphan"]}
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("containers after PassOf(a) (-want +got):\n%s", diff)
	}

	// The full pass does the rest.
	res = pass(t, e.s)
	for obj, want := range map[agent.Object]string{b: "recreate", c: "create", orphan: "remove"} {
		if got := opsOf(res, obj); len(got) != 1 || !strings.HasPrefix(got[0], want) {
			t.Errorf("full pass, %s: %v, want %s", obj, got, want)
		}
	}
}
