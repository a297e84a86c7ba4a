package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestRenderCluster: on a cluster (the kubernetes runtime) placement is
// the node selector rather than whether this machine runs the service,
// GPUs are counted rather than looked for here, the engine's health check
// is in the spec — and none of that touches a Docker render.
func TestRenderCluster(t *testing.T) {
	e := newFakeEnv(t)
	addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	render := func(host agent.Host, mutate func(*state.Service)) (*plan.Desired, error) {
		t.Helper()
		updateService(t, e.st, "chat", mutate)
		ws, err := agent.Render(e.st, host, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.Object.Name == "chat" {
				if w.Elsewhere != "" {
					return nil, &elsewhere{w.Elsewhere}
				}
				return w.Desired, w.Err
			}
		}
		t.Fatal("no chat")
		return nil, nil
	}
	cluster := agent.Host{Cluster: true}

	d, err := render(cluster, func(s *state.Service) {
		s.Placement = &state.Placement{HostLabels: map[string]string{"gpu": "a100"}}
		s.GPU = "all"
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"gpu": "a100"}; !cmp.Equal(d.Spec.NodeSelector, want) {
		t.Errorf("node selector %v, want %v", d.Spec.NodeSelector, want)
	}
	if !cmp.Equal(d.Spec.GPUs, []string{"all"}) {
		t.Errorf("GPUs %v on a cluster with no GPU on this machine, want [all] (one)", d.Spec.GPUs)
	}
	if want := (&container.Probe{Path: "/health", Interval: time.Second, Timeout: 30 * time.Second}); !cmp.Equal(d.Spec.Probe, want) {
		t.Errorf("probe %+v, want %+v", d.Spec.Probe, want)
	}
	d, err = render(cluster, func(s *state.Service) { s.Placement = &state.Placement{Hosts: []string{"node-7"}} })
	if err != nil || d.Spec.NodeSelector["kubernetes.io/hostname"] != "node-7" {
		t.Errorf("placement on host node-7: %v %v", d, err)
	}
	if _, err := render(cluster, func(s *state.Service) { s.Placement = &state.Placement{Hosts: []string{"a", "b"}} }); err == nil || !strings.Contains(err.Error(), "one node") {
		t.Errorf("placement on two hosts: %v, want refused", err)
	}

	// Docker: the same file is placed elsewhere (this machine is no host)
	// and, without placement, has neither probe nor node selector.
	if _, err := render(agent.Host{}, func(s *state.Service) { s.Placement = &state.Placement{HostLabels: map[string]string{"gpu": "a100"}} }); err == nil {
		t.Errorf("docker render of a placed service on no host: not elsewhere")
	}
	d, err = render(agent.Host{}, func(s *state.Service) { s.Placement = nil; s.GPU = "" })
	if err != nil || d.Spec.Probe != nil || d.Spec.NodeSelector != nil {
		t.Errorf("docker render: %+v %v, want no probe and no node selector", d, err)
	}
}

type elsewhere struct{ why string }

func (e *elsewhere) Error() string { return "elsewhere: " + e.why }
