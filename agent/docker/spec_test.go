package docker

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/aima-dev/aima/agent/container"
)

func TestCreateConfig(t *testing.T) {
	spec := container.Spec{
		Name:       "aima-service-qwen",
		Image:      "vllm/vllm-openai:v0.6.0",
		Entrypoint: []string{"python3", "-m", "vllm"},
		Cmd:        []string{"--model", "/model"},
		Env:        []string{"A=1", "B=2"},
		Labels:     map[string]string{container.LabelManaged: "true"},
		Ports: []container.Port{
			{HostIP: "127.0.0.1", HostPort: 8001, ContainerPort: 8000},
			{HostPort: 9000, ContainerPort: 9000},
		},
		Mounts: []container.Mount{
			{Source: "/models/qwen", Target: "/model", ReadOnly: true},
			{Source: "/cache", Target: "/root/.cache"},
			{Source: "aima-1234_webui-data", Target: "/data"},
		},
		Memory:   8 << 30,
		NanoCPUs: 2e9,
	}
	cfg, hcfg, err := createConfig(spec)
	if err != nil {
		t.Fatalf("createConfig: %v", err)
	}
	wantCfg := &dcontainer.Config{
		Image:        spec.Image,
		Entrypoint:   spec.Entrypoint,
		Cmd:          spec.Cmd,
		Env:          spec.Env,
		Labels:       spec.Labels,
		ExposedPorts: nat.PortSet{"8000/tcp": {}, "9000/tcp": {}},
	}
	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("Config (-want +got):\n%s", diff)
	}
	wantHost := &dcontainer.HostConfig{
		RestartPolicy: dcontainer.RestartPolicy{Name: "no"},
		PortBindings: nat.PortMap{
			"8000/tcp": {{HostIP: "127.0.0.1", HostPort: "8001"}},
			"9000/tcp": {{HostPort: "9000"}},
		},
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: "/models/qwen", Target: "/model", ReadOnly: true},
			{Type: mount.TypeBind, Source: "/cache", Target: "/root/.cache"},
			{Type: mount.TypeVolume, Source: "aima-1234_webui-data", Target: "/data"},
		},
		Resources: dcontainer.Resources{Memory: 8 << 30, NanoCPUs: 2e9},
	}
	if diff := cmp.Diff(wantHost, hcfg); diff != "" {
		t.Errorf("HostConfig (-want +got):\n%s", diff)
	}
}

func TestCreateConfigGPUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		gpus []string
		want []dcontainer.DeviceRequest
	}{
		{"none", nil, nil},
		{"empty", []string{}, nil},
		{"all", []string{"all"}, []dcontainer.DeviceRequest{
			{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}},
		}},
		{"ids", []string{"0", "GPU-3f2a"}, []dcontainer.DeviceRequest{
			{Driver: "nvidia", DeviceIDs: []string{"0", "GPU-3f2a"}, Capabilities: [][]string{{"gpu"}}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, hcfg, err := createConfig(container.Spec{Image: "x", GPUs: tc.gpus})
			if err != nil {
				t.Fatalf("createConfig: %v", err)
			}
			if diff := cmp.Diff(tc.want, hcfg.DeviceRequests); diff != "" {
				t.Errorf("DeviceRequests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec container.Spec
		want string
	}{
		{"container port", container.Spec{Ports: []container.Port{{ContainerPort: 0}}}, "container port out of range"},
		{"host port", container.Spec{Ports: []container.Port{{ContainerPort: 80, HostPort: 70000}}}, "host port out of range"},
		{"mount", container.Spec{Mounts: []container.Mount{{Target: "/m"}}}, "source and target are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := createConfig(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFromSummary(t *testing.T) {
	s := dcontainer.Summary{
		ID:      "abc",
		Names:   []string{"/aima-x"},
		Image:   "aima-stub:1",
		Created: 1700000000,
		State:   "exited",
		Status:  "Exited (137) 3 seconds ago",
		Labels:  map[string]string{container.LabelManaged: "true"},
		Ports: []dcontainer.Port{
			{IP: "0.0.0.0", PrivatePort: 8000, PublicPort: 8001, Type: "tcp"},
			{IP: "::", PrivatePort: 8000, PublicPort: 8001, Type: "tcp"},
			{IP: "127.0.0.1", PrivatePort: 7000, PublicPort: 7001, Type: "tcp"},
			{IP: "0.0.0.0", PrivatePort: 5353, PublicPort: 5353, Type: "udp"},
			{PrivatePort: 9000, Type: "tcp"}, // exposed, not published
		},
	}
	want := container.Container{
		ID:       "abc",
		Name:     "aima-x",
		Image:    "aima-stub:1",
		Labels:   s.Labels,
		State:    container.StateExited,
		ExitCode: 137,
		Ports: []container.Port{
			{HostIP: "127.0.0.1", HostPort: 7001, ContainerPort: 7000},
			{HostPort: 8001, ContainerPort: 8000},
		},
		Created: time.Unix(1700000000, 0),
	}
	if diff := cmp.Diff(want, fromSummary(s)); diff != "" {
		t.Errorf("fromSummary (-want +got):\n%s", diff)
	}
}
