package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/aima-dev/aima/agent/container"
)

// LabelSpec carries a compact summary of the spec a container was created
// from, so that a recreate can say which fields changed. Env values appear
// only as short hashes; see Labels.
const LabelSpec = "aima.spec"

// derived are the labels aima computes itself. They are left out of the
// spec hash and the summary: they describe where a container came from, not
// what it is, and Hash(spec with Labels applied) must equal Hash(spec).
// In particular a new git revision alone never recreates a container.
var derived = map[string]bool{
	container.LabelManaged:  true,
	container.LabelInstance: true,
	container.LabelKind:     true,
	container.LabelName:     true,
	container.LabelSpecHash: true,
	container.LabelRevision: true,
	container.LabelReplica:  true,
	LabelSpec:               true,
}

// Name returns the deterministic container name of an object: "aima-" +
// name for services, "aima-app-" + name for apps, and "aima-" + kind + "-" +
// name for any other kind. Object names are already restricted to
// [a-z0-9._-], so the result is a valid Docker name. Being deterministic, a
// crash between "create" and "record" can never produce a duplicate: the
// next create fails with a name conflict instead.
//
// A service named "app-x" and an app named "x" share a name; Diff reports
// that as a conflict.
func Name(kind, name string) string {
	switch kind {
	case "service":
		return "aima-" + name
	case "app":
		return "aima-app-" + name
	default:
		return "aima-" + kind + "-" + name
	}
}

// ReplicaName is the container name of replica n of an object: Name for
// the first (n ≤ 1), Name + "_n" for the others ("aima-qwen_2"). Service
// names may hold '_', so "qwen_2" and replica 2 of "qwen" share a name;
// Diff reports that as a conflict.
func ReplicaName(kind, name string, n int) string {
	if n <= 1 {
		return Name(kind, name)
	}
	return Name(kind, name) + "_" + strconv.Itoa(n)
}

// Replica is the replica number of a container from its labels: 1 when it
// has no LabelReplica (a service's first and only container).
func Replica(labels map[string]string) int {
	if n, err := strconv.Atoi(labels[container.LabelReplica]); err == nil && n > 1 {
		return n
	}
	return 1
}

// Labels returns the full label set of the container for d: the spec's own
// labels plus the aima.* ownership labels, the spec hash, the revision and
// the LabelSpec summary. The aima.* labels win over spec labels of the same
// key, so a file cannot claim another instance.
//
// Secrets never appear in clear: the summary holds env values only as a
// short sha256 of KEY=VALUE.
func Labels(d Desired, instance string) map[string]string {
	l := make(map[string]string, len(d.Spec.Labels)+7)
	for k, v := range d.Spec.Labels {
		l[k] = v
	}
	l[container.LabelManaged] = "true"
	l[container.LabelInstance] = instance
	l[container.LabelKind] = d.Kind
	l[container.LabelName] = d.Name
	l[container.LabelSpecHash] = Hash(d.Spec)
	l[container.LabelRevision] = d.Revision
	if d.Replica > 1 {
		l[container.LabelReplica] = strconv.Itoa(d.Replica)
	}
	b, err := json.Marshal(summarize(d.Spec))
	if err != nil {
		// The summary holds only strings, numbers and slices of them.
		panic("plan: marshal spec summary: " + err.Error())
	}
	l[LabelSpec] = string(b)
	return l
}

// summary is the content of LabelSpec: the top-level spec fields, with env
// values replaced by short hashes. V is the summary format version.
type summary struct {
	V          int               `json:"v"`
	Image      string            `json:"image"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
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
}

func summarize(spec container.Spec) summary {
	n := normalize(spec)
	s := summary{
		V:          1,
		Image:      n.Image,
		Entrypoint: n.Entrypoint,
		Cmd:        n.Cmd,
		Labels:     n.Labels,
		Ports:      n.Ports,
		Mounts:     n.Mounts,
		GPUs:       n.GPUs,
		Memory:     n.Memory,
		NanoCPUs:   n.NanoCPUs,
		IPC:        n.IPC,
		ShmSize:    n.ShmSize,
		Devices:    n.Devices,
		GroupAdd:   n.GroupAdd,
	}
	if len(n.Env) > 0 {
		s.Env = make(map[string]string, len(n.Env))
		for _, kv := range n.Env {
			k, _, _ := strings.Cut(kv, "=")
			// Hashing KEY=VALUE rather than VALUE alone keeps two keys with
			// the same secret from showing the same hash. Eight hex digits
			// are plenty to notice a change and reveal little.
			sum := sha256.Sum256([]byte(kv))
			s.Env[k] = hex.EncodeToString(sum[:4])
		}
	}
	return s
}

// Changed returns the sorted names of the fields in which spec differs from
// the summary label of an existing container: image, entrypoint, cmd,
// env:KEY, labels, ports, mounts, gpus, memory, nano_cpus. It returns nil
// when the summary is missing or unreadable (the fields are unknown) and an
// empty, non-nil slice when the summary matches spec.
func Changed(spec container.Spec, summaryLabel string) []string {
	if summaryLabel == "" {
		return nil
	}
	var old summary
	if err := json.Unmarshal([]byte(summaryLabel), &old); err != nil || old.V != 1 {
		return nil
	}
	cur := summarize(spec)
	changed := []string{}
	fields := []struct {
		name     string
		old, cur any
	}{
		{"image", old.Image, cur.Image},
		{"entrypoint", old.Entrypoint, cur.Entrypoint},
		{"cmd", old.Cmd, cur.Cmd},
		{"labels", old.Labels, cur.Labels},
		{"ports", old.Ports, cur.Ports},
		{"mounts", old.Mounts, cur.Mounts},
		{"gpus", old.GPUs, cur.GPUs},
		{"memory", old.Memory, cur.Memory},
		{"nano_cpus", old.NanoCPUs, cur.NanoCPUs},
		{"ipc", old.IPC, cur.IPC},
		{"shm_size", old.ShmSize, cur.ShmSize},
		{"devices", old.Devices, cur.Devices},
		{"group_add", old.GroupAdd, cur.GroupAdd},
	}
	for _, f := range fields {
		if !sameJSON(f.old, f.cur) {
			changed = append(changed, f.name)
		}
	}
	for k, v := range old.Env {
		if w, ok := cur.Env[k]; !ok || w != v {
			changed = append(changed, "env:"+k)
		}
	}
	for k := range cur.Env {
		if _, ok := old.Env[k]; !ok {
			changed = append(changed, "env:"+k)
		}
	}
	slices.Sort(changed)
	return changed
}

// sameJSON compares by encoding, so that nil and empty slices or maps, both
// omitted from the label, compare equal.
func sameJSON(a, b any) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	if errX != nil || errY != nil {
		return false
	}
	if string(x) == "null" || string(x) == "[]" || string(x) == "{}" {
		x = nil
	}
	if string(y) == "null" || string(y) == "[]" || string(y) == "{}" {
		y = nil
	}
	return bytes.Equal(x, y)
}
