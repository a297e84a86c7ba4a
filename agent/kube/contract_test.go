package kube_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/container/containertest"
	"github.com/aima-dev/aima/agent/kube"
	"github.com/aima-dev/aima/internal/k8senv"
	"github.com/aima-dev/aima/internal/testenv"
)

func TestMain(m *testing.M) {
	code := k8senv.Main(m)
	testenv.Cleanup()
	os.Exit(code)
}

// newRuntime returns a runtime on the test API server in a namespace of its
// own.
func newRuntime(t *testing.T) (*kube.Runtime, *k8senv.Env, string) {
	t.Helper()
	env := k8senv.Shared(t)
	ns := env.Namespace(t)
	rt, err := kube.New(kube.Options{Config: env.Config, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return rt, env, ns
}

func TestContract(t *testing.T) {
	rt, env, ns := newRuntime(t)
	const absent = "registry.invalid/aima/absent:1"
	env.Sim.SetUnpullable(absent)
	var ports atomic.Int32
	var instances atomic.Int32
	containertest.Run(t, containertest.Harness{
		Runtime:       rt,
		Image:         "registry.invalid/aima/server:1",
		Cmd:           []string{"serve"},
		ContainerPort: 8000,
		LogText:       "listening on port 8000",
		AbsentImage:   absent,
		NodesPull:     true,
		Instance: func(t *testing.T) string {
			id := "k" + strconv.Itoa(int(instances.Add(1)))
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = env.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: container.LabelInstance + "=" + id})
			})
			return id
		},
		// Service ports are the cluster's, not the host's: any will do.
		FreePort: func(t *testing.T) int { return 9000 + int(ports.Add(1)) },
		Kill: func(t *testing.T, id string) {
			if err := env.Sim.Kill(context.Background(), ns, id); err != nil {
				t.Fatalf("kill %s: %v", id, err)
			}
		},
		Unavailable: func(t *testing.T) container.Runtime {
			rt, err := kube.New(kube.Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			return rt
		},
	})
}
