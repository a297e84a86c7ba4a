package docker

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/aima-dev/aima/agent/container"
)

// Config is the Docker create request of a spec, in the Docker API's own
// shapes: what `aima service render` prints and exactly what Create sends.
type Config struct {
	Name             string                    `json:"Name"`
	Config           *dcontainer.Config        `json:"Config"`
	HostConfig       *dcontainer.HostConfig    `json:"HostConfig"`
	NetworkingConfig *network.NetworkingConfig `json:"NetworkingConfig"`
}

// Render is the Docker create request for spec (see Config).
func Render(spec container.Spec) (Config, error) {
	cfg, hcfg, err := createConfig(spec)
	if err != nil {
		return Config{}, err
	}
	return Config{Name: spec.Name, Config: cfg, HostConfig: hcfg, NetworkingConfig: &network.NetworkingConfig{}}, nil
}

// createConfig translates spec into the Docker create request. It is pure,
// so the translation (GPUs in particular, which no test machine has) is
// tested without a daemon.
func createConfig(spec container.Spec) (*dcontainer.Config, *dcontainer.HostConfig, error) {
	cfg := &dcontainer.Config{
		Image:      spec.Image,
		Entrypoint: slices.Clone(spec.Entrypoint),
		Cmd:        slices.Clone(spec.Cmd),
		Env:        slices.Clone(spec.Env),
		Labels:     maps.Clone(spec.Labels),
	}
	hcfg := &dcontainer.HostConfig{
		RestartPolicy: dcontainer.RestartPolicy{Name: dcontainer.RestartPolicyDisabled},
		Resources: dcontainer.Resources{
			Memory:   spec.Memory,
			NanoCPUs: spec.NanoCPUs,
		},
		IpcMode:  dcontainer.IpcMode(spec.IPC),
		ShmSize:  spec.ShmSize,
		GroupAdd: slices.Clone(spec.GroupAdd),
	}
	for _, d := range spec.Devices {
		if !strings.HasPrefix(d, "/dev/") {
			return nil, nil, fmt.Errorf("device %q: not a device path under /dev/", d)
		}
		hcfg.Devices = append(hcfg.Devices, dcontainer.DeviceMapping{PathOnHost: d, PathInContainer: d, CgroupPermissions: "rwm"})
	}
	for _, p := range spec.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, nil, fmt.Errorf("port %d: container port out of range", p.ContainerPort)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return nil, nil, fmt.Errorf("port %d: host port out of range", p.HostPort)
		}
		cport, err := nat.NewPort("tcp", strconv.Itoa(p.ContainerPort))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d: %w", p.ContainerPort, err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = nat.PortSet{}
			hcfg.PortBindings = nat.PortMap{}
		}
		cfg.ExposedPorts[cport] = struct{}{}
		b := nat.PortBinding{HostIP: p.HostIP}
		if p.HostPort != 0 {
			b.HostPort = strconv.Itoa(p.HostPort)
		}
		hcfg.PortBindings[cport] = append(hcfg.PortBindings[cport], b)
	}
	for _, m := range spec.Mounts {
		if m.Source == "" || m.Target == "" {
			return nil, nil, fmt.Errorf("mount %q -> %q: source and target are required", m.Source, m.Target)
		}
		// A bind mount (not a Binds entry) fails when the source is
		// missing instead of creating an empty directory in its place:
		// a mistyped model path must be an error, not an empty model.
		typ := mount.TypeBind
		if !strings.HasPrefix(m.Source, "/") {
			typ = mount.TypeVolume // a named volume: Docker creates it on first use
		}
		hcfg.Mounts = append(hcfg.Mounts, mount.Mount{
			Type:     typ,
			Source:   m.Source,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	if req, ok := gpuRequest(spec.GPUs); ok {
		hcfg.DeviceRequests = []dcontainer.DeviceRequest{req}
	}
	return cfg, hcfg, nil
}

// gpuRequest is the device request for gpus: all NVIDIA GPUs for ["all"],
// else the listed device ids (indexes or UUIDs), as `docker run --gpus`
// sends them. ok is false when no GPU is wanted.
func gpuRequest(gpus []string) (req dcontainer.DeviceRequest, ok bool) {
	if len(gpus) == 0 {
		return dcontainer.DeviceRequest{}, false
	}
	req = dcontainer.DeviceRequest{
		Driver:       "nvidia",
		Capabilities: [][]string{{"gpu"}},
	}
	if len(gpus) == 1 && gpus[0] == "all" {
		req.Count = -1
	} else {
		req.DeviceIDs = slices.Clone(gpus)
	}
	return req, true
}
