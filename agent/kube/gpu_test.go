package kube_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/internal/k8senv"
)

// TestGPUAllocation: the cluster, not aima, gives out GPUs. On a node with
// one NVIDIA GPU a second container that wants one waits, in the
// scheduler's words, and runs once the first is removed.
func TestGPUAllocation(t *testing.T) {
	rt, env, _ := newRuntime(t)
	ctx := context.Background()
	if err := env.Sim.SetGPUs(ctx, k8senv.NvidiaGPU, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Sim.SetGPUs(context.Background(), k8senv.NvidiaGPU, 0) })
	spec := func(name string) container.Spec {
		return container.Spec{
			Name:   "aima-gpu-" + name,
			Image:  "vllm/vllm-openai:v0.9",
			Labels: map[string]string{container.LabelManaged: "true", container.LabelInstance: "gpu", container.LabelName: name},
			Ports:  []container.Port{{HostPort: 8000, ContainerPort: 8000}},
			GPUs:   []string{"all"},
		}
	}
	start := func(name string) string {
		id, err := rt.Create(ctx, spec(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	wait := func(id string, what string, ok func(container.Container) bool) {
		t.Helper()
		poll(t, what, func() (bool, string) {
			c, err := rt.Inspect(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return ok(c), fmt.Sprintf("state %q reason %q", c.State, c.Reason)
		})
	}
	first := start("first")
	wait(first, "the first container running", func(c container.Container) bool { return c.State == container.StateRunning })
	second := start("second")
	wait(second, "the second container waiting for a GPU", func(c container.Container) bool {
		return c.State == container.StateRestarting && strings.Contains(c.Reason, "Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu")
	})
	if err := rt.Remove(ctx, first); err != nil {
		t.Fatal(err)
	}
	wait(second, "the second container running on the freed GPU", func(c container.Container) bool { return c.State == container.StateRunning })
}
