package plan

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/aima-dev/aima/agent/container"
)

// Hash returns the spec hash stored in the aima.spec-hash label:
// "v1-" followed by the first 16 hex digits of the sha256 of a canonical
// encoding of the normalised spec.
//
// The prefix is the version of the hash scheme. The canonical encoding is
// frozen per version (its own types below, not container.Spec's JSON), so a
// refactor cannot change it by accident. When aima has to change the
// encoding it adds "v2" and keeps computing v1 hashes for comparison: a
// container whose label carries "v1-..." is compared with the v1 hash of the
// desired spec (see Matches), so upgrading aima does not recreate every
// container. A new version that adds a field must make Matches for older
// versions also require that field to be at its zero value.
//
// The encoding leaves out the container name (identity, not configuration)
// and the labels aima derives itself (aima.managed, aima.instance, aima.kind,
// aima.name, aima.spec-hash, aima.revision, aima.spec), so a new git
// revision alone does not recreate a container. Env, ports, mounts and GPU
// ids are sorted; maps are encoded with sorted keys.
//
// Publishing on 127.0.0.1 by default (the host_ip field, issue 11) changed
// what is rendered, not the encoding: host_ip has been part of v1 from the
// start, so there is no v2. Containers of earlier versions, rendered
// without an address (Docker: every address), therefore hash differently
// and are recreated once, on 127.0.0.1 or the host_ip the files now say.
// That is deliberate: it is a security fix, and keeping them would leave
// every existing service exposed on the network until its next change. `aima
// diff` names it ("spec changed: ports; port 8000 published on every
// address, want 127.0.0.1"); a directory that wants the old exposure sets
// host_ip: 0.0.0.0 in aima.yaml (also one recreate). Where a running
// container is published is also read back from Docker (Misplaced), so the
// labels alone never keep an exposed container.
func Hash(spec container.Spec) string {
	return hashV1(spec)
}

// Matches reports whether the spec-hash label of an existing container
// describes spec, comparing with the hash scheme version named by the
// label's prefix. An unknown version (a newer aima's label after a
// downgrade, or garbage) does not match, so the container is recreated.
func Matches(spec container.Spec, label string) bool {
	version, _, ok := strings.Cut(label, "-")
	if !ok {
		return false
	}
	switch version {
	case "v1":
		return label == hashV1(spec)
	default:
		return false
	}
}

// specV1 is the v1 canonical encoding. Do not change what it encodes; a
// field may only be added as omitempty, so that every spec without it hashes
// as before (IPC, ShmSize, Devices and GroupAdd came so, with the engine
// specs fit for GPUs). Anything else is a specV2.
type specV1 struct {
	Image      string            `json:"image"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Ports      []portV1          `json:"ports,omitempty"`
	Mounts     []mountV1         `json:"mounts,omitempty"`
	GPUs       []string          `json:"gpus,omitempty"`
	Memory     int64             `json:"memory,omitempty"`
	NanoCPUs   int64             `json:"nano_cpus,omitempty"`
	IPC        string            `json:"ipc,omitempty"`
	ShmSize    int64             `json:"shm_size,omitempty"`
	Devices    []string          `json:"devices,omitempty"`
	GroupAdd   []string          `json:"group_add,omitempty"`
	// Probe and NodeSelector are set only by a cluster render (the
	// kubernetes runtime), so no Docker container's hash has them.
	Probe        *probeV1          `json:"probe,omitempty"`
	NodeSelector map[string]string `json:"node_selector,omitempty"`
}

type probeV1 struct {
	Path     string `json:"path"`
	Interval int64  `json:"interval,omitempty"` // nanoseconds
	Timeout  int64  `json:"timeout,omitempty"`
}

type portV1 struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

type mountV1 struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

func hashV1(spec container.Spec) string {
	b, err := json.Marshal(normalize(spec))
	if err != nil {
		// specV1 holds only strings, numbers and slices or maps of them.
		panic("plan: marshal spec: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "v1-" + hex.EncodeToString(sum[:8])
}

// normalize returns the v1 canonical form of spec. It never modifies spec.
// Order is dropped where Docker gives it no meaning (env, published ports,
// mounts, GPU ids) and kept where it matters (entrypoint, cmd).
func normalize(spec container.Spec) specV1 {
	n := specV1{
		Image:      spec.Image,
		Entrypoint: nonEmpty(spec.Entrypoint),
		Cmd:        nonEmpty(spec.Cmd),
		Env:        sorted(spec.Env),
		GPUs:       sorted(spec.GPUs),
		Memory:     spec.Memory,
		NanoCPUs:   spec.NanoCPUs,
		IPC:        spec.IPC,
		ShmSize:    spec.ShmSize,
		Devices:    sorted(spec.Devices),
		GroupAdd:   sorted(spec.GroupAdd),
	}
	if p := spec.Probe; p != nil {
		n.Probe = &probeV1{Path: p.Path, Interval: int64(p.Interval), Timeout: int64(p.Timeout)}
	}
	if len(spec.NodeSelector) > 0 {
		n.NodeSelector = maps.Clone(spec.NodeSelector)
	}
	for k, v := range spec.Labels {
		if derived[k] {
			continue
		}
		if n.Labels == nil {
			n.Labels = make(map[string]string)
		}
		n.Labels[k] = v
	}
	for _, p := range spec.Ports {
		n.Ports = append(n.Ports, portV1(p))
	}
	slices.SortFunc(n.Ports, func(a, b portV1) int {
		return cmp.Or(
			cmp.Compare(a.HostIP, b.HostIP),
			cmp.Compare(a.HostPort, b.HostPort),
			cmp.Compare(a.ContainerPort, b.ContainerPort),
		)
	})
	for _, m := range spec.Mounts {
		n.Mounts = append(n.Mounts, mountV1(m))
	}
	slices.SortFunc(n.Mounts, func(a, b mountV1) int {
		return cmp.Or(
			cmp.Compare(a.Target, b.Target),
			cmp.Compare(a.Source, b.Source),
			compareBool(a.ReadOnly, b.ReadOnly),
		)
	})
	return n
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func sorted(s []string) []string {
	s = nonEmpty(s)
	slices.Sort(s)
	return s
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}
