package agent_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container/fake"
	"github.com/aima-dev/aima/state"
)

// TestResourceSlotRefusesAndKeepsRunning: a service whose slot is exhausted
// is not started and says why; a running service is never evicted by a new
// one, whatever their names.
func TestResourceSlotRefusesAndKeepsRunning(t *testing.T) {
	st, _ := state.Open(filepath.Join(t.TempDir(), ".aima"))
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	set, _ := st.Settings()
	rt := fake.New()
	rt.AddImage("aima-stub:test", "")
	s := &agent.Syncer{Store: st, Runtime: rt, Instance: set.Instance, Prune: true,
		StubImage: func(context.Context) (string, error) { return "aima-stub:test", nil }}
	must := func(k *state.Kind, o state.Object) {
		t.Helper()
		if _, err := st.Create(k, o); err != nil {
			t.Fatal(err)
		}
	}
	must(state.KindModel, &state.Model{Name: "m", Size: "4g"})
	must(state.KindResource, &state.Resource{Name: "cpus", Type: "cpu", Limit: "3"})
	must(state.KindService, &state.Service{Name: "zeta", Model: "m", Engine: "stub", Port: 41001, CPUs: 2})
	ctx := context.Background()
	if _, err := s.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	must(state.KindService, &state.Service{Name: "alpha", Model: "m", Engine: "stub", Port: 41002, CPUs: 2})
	if _, err := s.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	z, a := sts[agent.Object{Kind: "service", Name: "zeta"}], sts[agent.Object{Kind: "service", Name: "alpha"}]
	// The fake runtime's containers run but serve nothing: "starting".
	if z.Container == "" || z.Status == agent.StatusFailed {
		t.Errorf("running service evicted: %+v", z)
	}
	if a.Status != agent.StatusFailed || !strings.Contains(a.Reason, `resource slot "cpus" is exhausted: 2 CPUs of 3 CPUs used by zeta; this service needs 2 CPUs`) {
		t.Errorf("over-budget service: %+v", a)
	}
	list, _ := rt.List(ctx)
	if len(list) != 1 {
		t.Errorf("%d containers, want 1 (the refused service must not be created)", len(list))
	}
	slots, _ := s.Budgets(ctx)
	if len(slots) != 1 || slots[0].Used != 2 || slots[0].Refused["alpha"] == "" {
		t.Errorf("budgets: %+v", slots)
	}
}
