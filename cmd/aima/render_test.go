package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"
)

// TestServiceRender: `aima service render` prints the create request the
// service's container was made from: the container Docker runs has its
// command, environment, labels (spec hash included) and port bindings; a
// secret shows as its reference, never its value; and a setting the
// engine does not take is refused naming the flag.
func TestServiceRender(t *testing.T) {
	e := newAimaEnv(t, 2)
	if err := os.MkdirAll(e.dir+"/.local/secrets", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.dir+"/.local/secrets/tok", []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "r", "--model-id", "tiny", "--engine-type", "stub", "--env", "TOKEN=${file:tok}")
	e.mustAima("sync")
	var out struct {
		Containers []struct {
			Name   string
			Config struct {
				Cmd    []string
				Env    []string
				Labels map[string]string
			}
			HostConfig struct {
				PortBindings map[string][]struct{ HostIp, HostPort string }
			}
		}
	}
	rendered := e.mustAima("service", "render", "r")
	if err := json.Unmarshal([]byte(rendered), &out); err != nil || len(out.Containers) != 1 {
		t.Fatalf("render: %v\n%s", err, rendered)
	}
	r := out.Containers[0]
	if strings.Contains(rendered, "s3cret-value") || !slices.Contains(r.Config.Env, "TOKEN=${file:tok}") {
		t.Errorf("the secret is not shown as its reference: %v", r.Config.Env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := e.docker.ContainerInspect(ctx, r.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Config.Cmd, r.Config.Cmd) {
		t.Errorf("cmd: Docker has %v, render says %v", got.Config.Cmd, r.Config.Cmd)
	}
	if !slices.Contains(got.Config.Env, "TOKEN=s3cret-value") {
		t.Errorf("the container did not get the secret: %v", got.Config.Env)
	}
	for k, v := range r.Config.Labels {
		if got.Config.Labels[k] != v {
			t.Errorf("label %s: Docker has %q, render says %q", k, got.Config.Labels[k], v)
		}
	}
	for port, want := range r.HostConfig.PortBindings {
		have := got.HostConfig.PortBindings[nat.Port(port)]
		if len(have) != len(want) || have[0].HostIP != want[0].HostIp || have[0].HostPort != want[0].HostPort {
			t.Errorf("port %s: Docker has %v, render says %v", port, have, want)
		}
	}
	// A setting the stub engine does not take.
	_, stderr, code := e.aima("service", "update", "r", "--config", "gpu_memory_utilization=0.9")
	if code == 0 || !strings.Contains(stderr, `--config gpu_memory_utilization=...`) || !strings.Contains(stderr, `engine "stub" has no setting`) {
		t.Errorf("unknown setting: exit %d, %s", code, stderr)
	}
}
