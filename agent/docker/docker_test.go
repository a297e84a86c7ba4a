package docker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/container/containertest"
	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/internal/testenv"
)

// unreachable is a daemon address where nothing listens.
const unreachable = "tcp://127.0.0.1:1"

func newRuntime(t *testing.T, opts ...client.Opt) *docker.Runtime {
	t.Helper()
	rt, err := docker.New(opts...)
	if err != nil {
		t.Fatalf("docker.New: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestContract(t *testing.T) {
	cli := testenv.Docker(t)
	image := testenv.StubImage(t)
	containertest.Run(t, containertest.Harness{
		Runtime:       newRuntime(t),
		Image:         image,
		Cmd:           []string{"--addr", ":8000", "--model", "contract"},
		ContainerPort: 8000,
		LogText:       "aima-stub: serving model",
		AbsentImage:   "aima-test/definitely-absent:0",
		Instance: func(t *testing.T) string {
			instance := testenv.Instance(t)
			testenv.RemoveContainers(t, cli, instance)
			return instance
		},
		FreePort: func(t *testing.T) int { return testenv.FreePort(t) },
		Kill: func(t *testing.T, id string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cli.ContainerKill(ctx, id, "SIGKILL"); err != nil {
				t.Fatalf("kill %s: %v", id, err)
			}
		},
		Unavailable: func(t *testing.T) container.Runtime {
			return newRuntime(t, client.WithHost(unreachable))
		},
		Timeout: time.Minute,
	})
}

// TestUnreachable needs no daemon: it is about the one that is not there.
func TestUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", unreachable)
	rt := newRuntime(t)
	ctx := context.Background()
	const limit = 5 * time.Second
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return rt.Ping(ctx) }},
		{"List", func() error { _, err := rt.List(ctx); return err }},
		{"Create", func() error {
			_, err := rt.Create(ctx, container.Spec{Name: "aima-unreachable", Image: "aima-test/any:0"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			if d := time.Since(start); d > limit {
				t.Errorf("took %s, want at most %s", d, limit)
			}
			if !errors.Is(err, container.ErrUnavailable) {
				t.Errorf("error %v, want %v", err, container.ErrUnavailable)
			}
		})
	}
}

// TestClient checks that the client handed out for image building talks to
// the same daemon.
func TestClient(t *testing.T) {
	testenv.Docker(t)
	rt := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := rt.Client().Ping(ctx); err != nil {
		t.Fatalf("Client().Ping: %v", err)
	}
	if err := rt.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
