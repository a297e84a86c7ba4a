package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/container"
)

func baseSpec() container.Spec {
	return container.Spec{
		Name:       "aima-qwen",
		Image:      "vllm/vllm-openai:v0.6.0",
		Entrypoint: []string{"python3", "-m", "vllm.entrypoints.openai.api_server"},
		Cmd:        []string{"--model", "/models/qwen", "--port", "8000"},
		Env:        []string{"HF_TOKEN=hf_secret", "VLLM_LOG=info"},
		Labels:     map[string]string{container.LabelEngine: "vllm", container.LabelModel: "qwen"},
		Ports:      []container.Port{{HostPort: 8000, ContainerPort: 8000}},
		Mounts:     []container.Mount{{Source: "/data/qwen", Target: "/models/qwen", ReadOnly: true}},
		GPUs:       []string{"all"},
		Memory:     16 << 30,
		NanoCPUs:   4e9,
	}
}

// TestHashGolden freezes the v1 encoding. If it fails, the encoding changed
// and every container of every user would be recreated on upgrade: add a v2
// scheme instead (see Hash).
func TestHashGolden(t *testing.T) {
	got := Hash(baseSpec())
	const want = "v1-6e2ecab32afacf35"
	if got != want {
		t.Errorf("Hash(baseSpec()) = %q, want %q", got, want)
	}
}

func TestHashFormat(t *testing.T) {
	h := Hash(baseSpec())
	if !strings.HasPrefix(h, "v1-") || len(h) != len("v1-")+16 {
		t.Errorf("Hash = %q, want v1- and 16 hex digits", h)
	}
}

func TestHashIgnores(t *testing.T) {
	base := Hash(baseSpec())
	tests := map[string]func(*container.Spec){
		"container name":  func(s *container.Spec) { s.Name = "other" },
		"revision label":  func(s *container.Spec) { s.Labels[container.LabelRevision] = "abc123" },
		"spec-hash label": func(s *container.Spec) { s.Labels[container.LabelSpecHash] = "v1-0000" },
		"instance label":  func(s *container.Spec) { s.Labels[container.LabelInstance] = "box9" },
		"summary label":   func(s *container.Spec) { s.Labels[LabelSpec] = "{}" },
		"env order":       func(s *container.Spec) { s.Env = []string{"VLLM_LOG=info", "HF_TOKEN=hf_secret"} },
		"label map rebuilt": func(s *container.Spec) {
			s.Labels = map[string]string{container.LabelModel: "qwen", container.LabelEngine: "vllm"}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s := baseSpec()
			mutate(&s)
			if got := Hash(s); got != base {
				t.Errorf("Hash = %q, want %q", got, base)
			}
		})
	}

	// Several ports and mounts in another order.
	a, b := baseSpec(), baseSpec()
	a.Ports = []container.Port{{HostPort: 8000, ContainerPort: 8000}, {HostIP: "127.0.0.1", HostPort: 9000, ContainerPort: 9000}}
	b.Ports = []container.Port{a.Ports[1], a.Ports[0]}
	a.Mounts = []container.Mount{{Source: "/a", Target: "/a"}, {Source: "/b", Target: "/b", ReadOnly: true}}
	b.Mounts = []container.Mount{a.Mounts[1], a.Mounts[0]}
	a.GPUs, b.GPUs = []string{"0", "1"}, []string{"1", "0"}
	if Hash(a) != Hash(b) {
		t.Errorf("order of ports, mounts or gpus changed the hash")
	}

	// Empty and nil are the same.
	a, b = container.Spec{Image: "x", Cmd: []string{}, Env: []string{}, Labels: map[string]string{}}, container.Spec{Image: "x"}
	if Hash(a) != Hash(b) {
		t.Errorf("empty and nil fields hash differently")
	}
}

func TestHashSees(t *testing.T) {
	base := Hash(baseSpec())
	tests := map[string]func(*container.Spec){
		"image":         func(s *container.Spec) { s.Image = "vllm/vllm-openai:v0.7.0" },
		"cmd order":     func(s *container.Spec) { s.Cmd = []string{"--port", "8000", "--model", "/models/qwen"} },
		"entrypoint":    func(s *container.Spec) { s.Entrypoint = nil },
		"env value":     func(s *container.Spec) { s.Env = []string{"HF_TOKEN=hf_other", "VLLM_LOG=info"} },
		"user label":    func(s *container.Spec) { s.Labels["team"] = "ml" },
		"engine label":  func(s *container.Spec) { s.Labels[container.LabelEngine] = "sglang" },
		"host port":     func(s *container.Spec) { s.Ports[0].HostPort = 8001 },
		"mount ro":      func(s *container.Spec) { s.Mounts[0].ReadOnly = false },
		"gpus":          func(s *container.Spec) { s.GPUs = []string{"0"} },
		"memory":        func(s *container.Spec) { s.Memory = 8 << 30 },
		"nano cpus":     func(s *container.Spec) { s.NanoCPUs = 2e9 },
		"no gpus":       func(s *container.Spec) { s.GPUs = nil },
		"no port":       func(s *container.Spec) { s.Ports = nil },
		"bind host ip":  func(s *container.Spec) { s.Ports[0].HostIP = "127.0.0.1" },
		"mount target":  func(s *container.Spec) { s.Mounts[0].Target = "/m" },
		"unlimited mem": func(s *container.Spec) { s.Memory = 0 },
		// A cluster render's fields (never set for Docker, so no Docker
		// container's hash has them): a changed probe or placement on a
		// cluster is a new spec.
		"probe":         func(s *container.Spec) { s.Probe = &container.Probe{Path: "/health"} },
		"node selector": func(s *container.Spec) { s.NodeSelector = map[string]string{"gpu": "a100"} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s := baseSpec()
			mutate(&s)
			if got := Hash(s); got == base {
				t.Errorf("Hash did not change")
			}
		})
	}
}

func TestMatches(t *testing.T) {
	spec := baseSpec()
	other := baseSpec()
	other.Image = "other"
	tests := []struct {
		label string
		want  bool
	}{
		{Hash(spec), true},
		{hashV1(spec), true},
		{Hash(other), false},
		{"v2-" + strings.TrimPrefix(Hash(spec), "v1-"), false}, // a newer scheme: unknown here
		{strings.TrimPrefix(Hash(spec), "v1-"), false},         // no version
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := Matches(spec, tt.label); got != tt.want {
			t.Errorf("Matches(spec, %q) = %v, want %v", tt.label, got, tt.want)
		}
	}
}

func TestLabels(t *testing.T) {
	d := Desired{Kind: "service", Name: "qwen", Spec: baseSpec(), Running: true, Revision: "abc123"}
	d.Spec.Labels[container.LabelInstance] = "spoofed"
	got := Labels(d, "box1")
	want := map[string]string{
		container.LabelEngine:   "vllm",
		container.LabelModel:    "qwen",
		container.LabelManaged:  "true",
		container.LabelInstance: "box1",
		container.LabelKind:     "service",
		container.LabelName:     "qwen",
		container.LabelSpecHash: Hash(d.Spec),
		container.LabelRevision: "abc123",
		LabelSpec:               got[LabelSpec],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Labels mismatch (-want +got):\n%s", diff)
	}
	// Labels must not change the hash of a spec that carries them.
	withLabels := d.Spec
	withLabels.Labels = got
	if Hash(withLabels) != Hash(d.Spec) {
		t.Errorf("Hash(spec with Labels) != Hash(spec)")
	}
	if d.Spec.Labels[container.LabelInstance] != "spoofed" {
		t.Errorf("Labels modified d.Spec.Labels")
	}
}

func TestLabelsHideSecrets(t *testing.T) {
	const secret = "sk-very-secret-value-42"
	d := Desired{Kind: "service", Name: "qwen", Spec: baseSpec(), Running: true}
	d.Spec.Env = []string{"API_KEY=" + secret, "OPENAI_API_KEY=" + secret}
	for k, v := range Labels(d, "box1") {
		if strings.Contains(v, secret) || strings.Contains(k, secret) {
			t.Errorf("label %s = %q contains the secret", k, v)
		}
	}
	// Two keys with one secret must not show the same digest either.
	s := summarize(d.Spec)
	if s.Env["API_KEY"] == s.Env["OPENAI_API_KEY"] {
		t.Errorf("equal digests for equal values under different keys: %v", s.Env)
	}
}

func TestChanged(t *testing.T) {
	old := Desired{Kind: "service", Name: "qwen", Spec: baseSpec(), Revision: "r1"}
	summary := Labels(old, "box1")[LabelSpec]
	tests := []struct {
		name    string
		mutate  func(*container.Spec)
		summary string
		want    []string
	}{
		{name: "same", mutate: func(*container.Spec) {}, want: []string{}},
		{name: "same, reordered", mutate: func(s *container.Spec) { s.Env = []string{"VLLM_LOG=info", "HF_TOKEN=hf_secret"} }, want: []string{}},
		{name: "image", mutate: func(s *container.Spec) { s.Image = "x" }, want: []string{"image"}},
		{name: "env value", mutate: func(s *container.Spec) { s.Env[0] = "HF_TOKEN=rotated" }, want: []string{"env:HF_TOKEN"}},
		{name: "env added and removed", mutate: func(s *container.Spec) { s.Env = []string{"NEW=1", "VLLM_LOG=info"} }, want: []string{"env:HF_TOKEN", "env:NEW"}},
		{name: "many", mutate: func(s *container.Spec) {
			s.Image = "x"
			s.Cmd = nil
			s.Entrypoint = []string{"sh"}
			s.Labels["team"] = "ml"
			s.Ports = nil
			s.Mounts = nil
			s.GPUs = []string{"0"}
			s.Memory = 1
			s.NanoCPUs = 1
		}, want: []string{"cmd", "entrypoint", "gpus", "image", "labels", "memory", "mounts", "nano_cpus", "ports"}},
		{name: "derived labels do not count", mutate: func(s *container.Spec) { s.Labels[container.LabelRevision] = "r2" }, want: []string{}},
		{name: "no summary", mutate: func(*container.Spec) {}, summary: "-", want: nil},
		{name: "bad summary", mutate: func(*container.Spec) {}, summary: "{not json", want: nil},
		{name: "unknown summary version", mutate: func(*container.Spec) {}, summary: `{"v":2}`, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.mutate(&s)
			label := summary
			switch tt.summary {
			case "":
			case "-":
				label = ""
			default:
				label = tt.summary
			}
			got := Changed(s, label)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Changed mismatch (-want +got):\n%s", diff)
			}
			if (got == nil) != (tt.want == nil) {
				t.Errorf("Changed = %#v, want %#v (nil means unknown)", got, tt.want)
			}
		})
	}
}

func TestName(t *testing.T) {
	tests := []struct{ kind, name, want string }{
		{"service", "qwen-chat", "aima-qwen-chat"},
		{"app", "open-webui", "aima-app-open-webui"},
		{"job", "x", "aima-job-x"},
	}
	for _, tt := range tests {
		if got := Name(tt.kind, tt.name); got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.kind, tt.name, got, tt.want)
		}
	}
}

func TestOpString(t *testing.T) {
	got := []string{Create.String(), Recreate.String(), Start.String(), Stop.String(), Remove.String(), Op(0).String()}
	want := []string{"create", "recreate", "start", "stop", "remove", "Op(0)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Op.String mismatch (-want +got):\n%s", diff)
	}
}
