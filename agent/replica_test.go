package agent_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestPassReplicas: replicas: 2 runs two containers of one spec but for
// their names and host ports (the ports its file was given); going to 3
// adds one and leaves the others running; back to 1 removes the extra
// ones; the replicas' statuses are derived each and the service's is the
// least advanced of them.
func TestPassReplicas(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	updateService(t, e.st, "chat", func(s *state.Service) { s.Replicas = 2 })
	res := pass(t, e.s)
	if len(res.Errors) > 0 {
		t.Fatalf("pass errors: %v", res.Errors)
	}
	en, _ := e.st.Get(state.KindService, "chat")
	ports := en.Object.(*state.Service).Ports()
	byName := map[string]container.Container{}
	for _, c := range e.ours(t) {
		byName[strings.TrimPrefix(c.Name, e.cname("")+"-")] = c // chat, chat_2
	}
	if len(byName) != 2 || byName["chat"].ID == "" || byName["chat_2"].ID == "" {
		t.Fatalf("containers %v; want aima-chat and aima-chat_2", keys(byName))
	}
	for i, name := range []string{"chat", "chat_2"} {
		spec, err := e.rt.Spec(byName[name].ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]container.Port{{HostIP: "127.0.0.1", HostPort: ports[i], ContainerPort: 8000}}, spec.Ports); diff != "" {
			t.Errorf("%s ports (-want +got):\n%s", name, diff)
		}
	}
	if got := byName["chat_2"].Labels[container.LabelReplica]; got != "2" {
		t.Errorf("aima-chat_2's %s label = %q, want 2", container.LabelReplica, got)
	}
	if p := planOf(t, e.s); !p.Plan.Empty() {
		t.Errorf("diff after the pass:\n%s", p.Plan)
	}

	// The status has one entry per replica, each with its own endpoint.
	st := statusOf(t, e.s, obj)
	if len(st.Replicas) != 2 || st.Replicas[1].Endpoint != agent.Endpoint("127.0.0.1", ports[1]) || st.Replicas[1].Container != e.cname("chat_2") {
		t.Errorf("status replicas %+v; want two, the second aima-chat_2 on port %d", st.Replicas, ports[1])
	}

	// Scaled up: only the new replica is created.
	first := byName["chat"].ID
	updateService(t, e.st, "chat", func(s *state.Service) { s.Replicas = 3 })
	res = pass(t, e.s)
	if got := strings.TrimSpace(res.Plan.String()); got != "+ service/chat[3] create (no container)" {
		t.Errorf("scale 2 → 3 did:\n%s", got)
	}
	// A replica that exits: the service's status is that replica's.
	var third container.Container
	for _, c := range e.ours(t) {
		if c.Name == e.cname("chat_3") {
			third = c
		}
	}
	if err := e.rt.Kill(third.ID, 3); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusFailed || !strings.HasPrefix(st.Reason, "replica 3: ") {
		t.Errorf("replica 3 exited: status %s (%s); want failed naming replica 3", st.Status, st.Reason)
	}

	// Scaled down: the extra replicas go, the first stays.
	updateService(t, e.st, "chat", func(s *state.Service) { s.Replicas = 1 })
	res = pass(t, e.s)
	var ops []string
	for _, op := range res.Plan.Ops {
		ops = append(ops, op.String())
	}
	slices.Sort(ops)
	if diff := cmp.Diff([]string{"- service/chat[2] remove (scaled down: replicas 1)", "- service/chat[3] remove (scaled down: replicas 1)"}, ops); diff != "" {
		t.Errorf("scale 3 → 1 (-want +got):\n%s", diff)
	}
	if c := e.only(t); c.ID != first {
		t.Errorf("after scaling down the container is %s %s; want the first replica %s kept", c.Name, c.ID, first)
	}
	if st := statusOf(t, e.s, obj); len(st.Replicas) != 0 {
		t.Errorf("one replica: status still lists replicas %+v", st.Replicas)
	}
}

// TestRenderGPUPerReplica: gpu: per_replica gives replica k GPU k-1, a
// list per replica gives each its set, and asking for a GPU the host does
// not have fails naming it.
func TestRenderGPUPerReplica(t *testing.T) {
	e := newFakeEnv(t)
	addService(t, e.st, "big", "tiny", "stub", testenv.FreePort(t), nil)
	render := func(gpu string, replicas int) ([][]string, error) {
		updateService(t, e.st, "big", func(s *state.Service) { s.GPU, s.Replicas = gpu, replicas })
		ws, err := agent.Render(e.st, agent.Host{GPUs: 4}, "")
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for _, w := range ws {
			if w.Object.Name != "big" {
				continue
			}
			if w.Err != nil {
				return nil, w.Err
			}
			for _, d := range w.All() {
				out = append(out, d.Spec.GPUs)
			}
		}
		return out, nil
	}
	got, err := render("per_replica", 3)
	if err != nil || !cmp.Equal(got, [][]string{{"0"}, {"1"}, {"2"}}) {
		t.Errorf("per_replica × 3: %v %v; want GPUs 0, 1, 2", got, err)
	}
	got, err = render("0,1;2,3", 2)
	if err != nil || !cmp.Equal(got, [][]string{{"0", "1"}, {"2", "3"}}) {
		t.Errorf("0,1;2,3 × 2: %v %v; want [0 1] and [2 3]", got, err)
	}
	if _, err := render("per_replica", 5); err == nil || !strings.Contains(err.Error(), "replica 5: gpu: GPU 4 does not exist") {
		t.Errorf("per_replica × 5 on 4 GPUs: %v; want replica 5 refused naming GPU 4", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
