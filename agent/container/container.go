// Package container holds the vocabulary shared by the sync loop and the
// container runtimes: the desired container Spec, the observed Container,
// runtime Events and the Runtime interface itself.
//
// It owns no behaviour. The Docker adapter (agent/docker), the Kubernetes
// adapter (agent/kube) and the in-memory fake (agent/container/fake)
// implement Runtime and pass the contract test in
// agent/container/containertest.
package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aima-dev/aima/state"
)

// Label keys. Every container aima creates carries all of them; aima only
// ever touches containers whose LabelInstance equals its own instance id.
const (
	LabelManaged  = "aima.managed"
	LabelInstance = "aima.instance"
	LabelKind     = "aima.kind"
	LabelName     = "aima.name"
	LabelEngine   = "aima.engine"
	LabelModel    = "aima.model"
	LabelSpecHash = "aima.spec-hash"
	LabelRevision = "aima.revision"
	// LabelReplica numbers the replicas of a service past the first (2,
	// 3, ...); replica 1 has none, so a service's one container is the same
	// whether it could have more or not.
	LabelReplica = "aima.replica"
)

// Errors callers branch on. Runtimes wrap them with context.
var (
	// ErrNotFound: the container (or image) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the runtime (Docker daemon) cannot be reached. It
	// is state.ErrUnavailable, so every door answers it as one kind.
	ErrUnavailable = fmt.Errorf("container runtime: %w", state.ErrUnavailable)
	// ErrConflict: a container with that name already exists.
	ErrConflict = errors.New("conflict")
	// ErrImage: the image is not present and could not be pulled.
	ErrImage = errors.New("image unavailable")
)

// Port publishes ContainerPort (tcp) on HostIP:HostPort.
type Port struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

// Mount is a bind mount of a host path.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Spec is everything needed to create one container. It is produced from
// the files (service + engine + model, or app) and is hashed into the
// aima.spec-hash label, so two equal Specs must describe the same container.
type Spec struct {
	Name       string            `json:"name"` // deterministic, e.g. aima-service-qwen-chat
	Image      string            `json:"image"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"` // KEY=VALUE, sorted
	Labels     map[string]string `json:"labels,omitempty"`
	Ports      []Port            `json:"ports,omitempty"`
	Mounts     []Mount           `json:"mounts,omitempty"`
	// GPUs: nil or empty for none, ["all"] for all NVIDIA GPUs, else device ids.
	GPUs     []string `json:"gpus,omitempty"`
	Memory   int64    `json:"memory,omitempty"`    // bytes, 0 = unlimited
	NanoCPUs int64    `json:"nano_cpus,omitempty"` // 1e9 = one CPU, 0 = unlimited
	// IPC is the IPC namespace: "" (Docker's default, private) or "host"
	// (what vLLM and SGLang need for tensor parallelism).
	IPC string `json:"ipc,omitempty"`
	// ShmSize is the size of /dev/shm in bytes (0: Docker's 64 MiB).
	ShmSize int64 `json:"shm_size,omitempty"`
	// Devices are host device paths passed through as they are, read,
	// write and mknod (AMD GPUs: /dev/kfd, /dev/dri).
	Devices []string `json:"devices,omitempty"`
	// GroupAdd are extra groups of the container's user (AMD GPUs: video).
	GroupAdd []string `json:"group_add,omitempty"`
	// Probe is the engine's health check for a runtime that runs it
	// itself (Kubernetes: readiness and startup probes). Only a cluster
	// render sets it; Docker ignores it (the agent probes the port).
	Probe *Probe `json:"probe,omitempty"`
	// NodeSelector are the node labels a cluster must place the container
	// on (placement host_labels). Only a cluster render sets it.
	NodeSelector map[string]string `json:"node_selector,omitempty"`
}

// Probe is an HTTP health check on the container's first port.
type Probe struct {
	Path string `json:"path"`
	// Interval between probes and Timeout, how long startup may take
	// (vLLM: 20 minutes); zero for the runtime's defaults.
	Interval time.Duration `json:"interval,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
}

// State is a container's lifecycle state as Docker reports it.
type State string

const (
	StateCreated    State = "created"
	StateRunning    State = "running"
	StateRestarting State = "restarting"
	StatePaused     State = "paused"
	StateExited     State = "exited"
	StateDead       State = "dead"
	StateRemoving   State = "removing"
)

// Container is one observed container.
type Container struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"` // without the leading slash
	Image    string            `json:"image"`
	Labels   map[string]string `json:"labels,omitempty"`
	State    State             `json:"state"`
	ExitCode int               `json:"exit_code,omitempty"`
	Ports    []Port            `json:"ports,omitempty"`
	Created  time.Time         `json:"created"`
	// Reason is what the runtime says about a container that is not
	// plainly running or exited, in its own words (Kubernetes:
	// "Unschedulable: 0/3 nodes are available: 3 Insufficient
	// nvidia.com/gpu."); Docker leaves it empty.
	Reason string `json:"reason,omitempty"`
	// Health is the runtime's own verdict of the health check, when it
	// runs one (Kubernetes: the pod's Ready condition): "healthy",
	// "starting" or "". Empty means the agent probes the port itself.
	Health string `json:"health,omitempty"`
}

// Health verdicts of Container.Health.
const (
	HealthHealthy  = "healthy"
	HealthStarting = "starting"
)

// EventType is what happened to a container.
type EventType string

const (
	EventStart   EventType = "start"
	EventDie     EventType = "die"
	EventOOM     EventType = "oom"
	EventDestroy EventType = "destroy"
)

// Event is a container lifecycle event from the runtime.
type Event struct {
	Type   EventType
	ID     string
	Labels map[string]string
}

// Runtime is the small set of container operations the sync loop needs.
type Runtime interface {
	// Ping checks that the runtime answers; it fails fast with ErrUnavailable.
	Ping(ctx context.Context) error
	// List returns every container carrying an aima label (see Labelled):
	// aima.managed=true of any instance, and ones without it, running or
	// not, in one call. Callers split ours (Owned) from the others, which
	// are reported as unmanaged and never touched.
	List(ctx context.Context) ([]Container, error)
	// EnsureImage makes the image present locally, pulling it when absent.
	// progress, when not nil, receives human-readable progress lines.
	EnsureImage(ctx context.Context, image string, progress func(string)) error
	// Create creates (does not start) a container from spec and returns its id.
	Create(ctx context.Context, spec Spec) (string, error)
	// Start starts a created or exited container.
	Start(ctx context.Context, id string) error
	// Stop stops a running container, waiting at most timeout.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Remove removes a container, stopping it first if needed.
	Remove(ctx context.Context, id string) error
	// Inspect returns one container, with ErrNotFound when it does not exist.
	Inspect(ctx context.Context, id string) (Container, error)
	// Logs writes the container's combined output to w (last tail lines when
	// tail > 0); with follow it streams until ctx ends or the container stops.
	Logs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error
	// Events streams container events for aima-managed containers until ctx
	// ends. The error channel receives one error when the stream breaks.
	Events(ctx context.Context) (<-chan Event, <-chan error)
}
