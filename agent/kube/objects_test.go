package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/aima-dev/aima/agent/container"
)

func TestObjectName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"aima-1a2b-qwen", "aima-1a2b-qwen"},
		{"aima-1a2b-qwen_2", "aima-1a2b-qwen-2-"},
		{"aima-1a2b-qwen.v2", "aima-1a2b-qwen-v2-"},
		{"9lives", "c-9lives-"},
		{strings.Repeat("a", 70), strings.Repeat("a", 54) + "-"},
	} {
		got := ObjectName(tc.in)
		if got != tc.want && !strings.HasPrefix(got, tc.want) {
			t.Errorf("ObjectName(%q) = %q, want %q…", tc.in, got, tc.want)
		}
		if len(got) > 63 || !dns1035.MatchString(got) {
			t.Errorf("ObjectName(%q) = %q: not a DNS-1035 label", tc.in, got)
		}
	}
	// "qwen_2" (replica 2 of qwen) and a service named "qwen-2" differ.
	if a, b := ObjectName("aima-x-qwen_2"), ObjectName("aima-x-qwen-2"); a == b {
		t.Errorf("ObjectName: %q for both qwen_2 and qwen-2", a)
	}
}

// TestRender pins what a service's spec becomes: GPUs as extended
// resources, the health check as probes with the engine's timeout, the
// placement as a node selector, the model as a read-only host path, the
// labels on every object and the Service's ports.
func TestRender(t *testing.T) {
	spec := container.Spec{
		Name:   "aima-inst-qwen_2",
		Image:  "vllm/vllm-openai:v0.9",
		Cmd:    []string{"--model", "/models/qwen"},
		Env:    []string{"A=1", "HF_HOME=/cache"},
		Labels: map[string]string{container.LabelManaged: "true", container.LabelInstance: "inst", container.LabelName: "qwen", "aima.spec": "image=vllm/vllm-openai:v0.9 env=A:1a2b"},
		Ports:  []container.Port{{HostIP: "127.0.0.1", HostPort: 8001, ContainerPort: 8000}},
		Mounts: []container.Mount{
			{Source: "/srv/models/qwen", Target: "/models/qwen", ReadOnly: true},
			{Source: "inst_cache", Target: "/cache"},
		},
		GPUs:         []string{"0", "1"},
		Memory:       16 << 30,
		NanoCPUs:     4e9,
		IPC:          "host",
		ShmSize:      1 << 30,
		Probe:        &container.Probe{Path: "/health", Interval: 5 * time.Second, Timeout: 20 * time.Minute},
		NodeSelector: map[string]string{"gpu": "a100"},
	}
	objs, err := Render(spec, "ai", true)
	if err != nil {
		t.Fatal(err)
	}
	d := objs.Deployment
	if d.Namespace != "ai" || d.Name != ObjectName(spec.Name) || *d.Spec.Replicas != 1 {
		t.Errorf("deployment %s/%s replicas %d", d.Namespace, d.Name, *d.Spec.Replicas)
	}
	// aima.spec's value has spaces and '=': not a label value, so only in
	// the spec annotation.
	if _, ok := d.Labels["aima.spec"]; ok {
		t.Errorf("aima.spec became a label: %v", d.Labels)
	}
	for _, k := range []string{container.LabelManaged, container.LabelInstance, container.LabelName} {
		if d.Labels[k] != spec.Labels[k] || d.Spec.Template.Labels[k] != spec.Labels[k] || objs.Service.Labels[k] != spec.Labels[k] {
			t.Errorf("label %s missing on an object", k)
		}
	}
	if got, ok := specOf(d); !ok || !cmp.Equal(got, spec) {
		t.Errorf("spec annotation does not read back (-want +got):\n%s", cmp.Diff(spec, got))
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	lim := c.Resources.Limits
	if q := lim["nvidia.com/gpu"]; q.Value() != 2 {
		t.Errorf("nvidia.com/gpu %v, want 2", q.String())
	}
	if q := lim[corev1.ResourceMemory]; q.Value() != 16<<30 {
		t.Errorf("memory %v", q.String())
	}
	if q := lim[corev1.ResourceCPU]; q.MilliValue() != 4000 {
		t.Errorf("cpu %v", q.String())
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/health" || c.ReadinessProbe.HTTPGet.Port.IntValue() != 8000 || c.ReadinessProbe.PeriodSeconds != 5 {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	if p := c.StartupProbe; p == nil || p.FailureThreshold*p.PeriodSeconds != 1200 {
		t.Errorf("startup probe %+v, want 20 minutes of 5 s periods", p)
	}
	if !pod.HostIPC || !cmp.Equal(pod.NodeSelector, spec.NodeSelector) {
		t.Errorf("hostIPC %v node selector %v", pod.HostIPC, pod.NodeSelector)
	}
	if v := pod.Volumes; len(v) != 3 || v[0].HostPath == nil || v[0].HostPath.Path != "/srv/models/qwen" || v[1].EmptyDir == nil || v[2].EmptyDir == nil || v[2].EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("volumes %+v", v)
	}
	if m := c.VolumeMounts; len(m) != 3 || !m[0].ReadOnly || m[2].MountPath != "/dev/shm" {
		t.Errorf("volume mounts %+v", m)
	}
	if p := objs.Service.Spec.Ports; len(p) != 1 || p[0].Port != 8001 || p[0].TargetPort.IntValue() != 8000 {
		t.Errorf("service ports %+v", p)
	}
	if objs.Service.Spec.Selector[labelInstance] != d.Name || d.Spec.Selector.MatchLabels[labelInstance] != d.Name {
		t.Errorf("selectors %v %v", objs.Service.Spec.Selector, d.Spec.Selector)
	}
}

func TestRenderGPUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec container.Spec
		want map[corev1.ResourceName]int64
	}{
		{"all NVIDIA is one", container.Spec{GPUs: []string{"all"}}, map[corev1.ResourceName]int64{"nvidia.com/gpu": 1}},
		{"AMD", container.Spec{Devices: []string{"/dev/kfd", "/dev/dri"}}, map[corev1.ResourceName]int64{"amd.com/gpu": 1}},
		{"AMD ids", container.Spec{Devices: []string{"/dev/kfd", "/dev/dri"}, Env: []string{"HIP_VISIBLE_DEVICES=0,1,2"}}, map[corev1.ResourceName]int64{"amd.com/gpu": 3}},
		{"none", container.Spec{}, map[corev1.ResourceName]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.Image = "c", "img"
			objs, err := Render(tc.spec, "ns", false)
			if err != nil {
				t.Fatal(err)
			}
			got := map[corev1.ResourceName]int64{}
			for r, q := range objs.Deployment.Spec.Template.Spec.Containers[0].Resources.Limits {
				got[r] = q.Value()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("GPU limits (-want +got):\n%s", diff)
			}
			if objs.Service != nil {
				t.Errorf("a spec with no ports has a Service")
			}
		})
	}
	if _, err := Render(container.Spec{Name: "c", Image: "img", Devices: []string{"/dev/fuse"}}, "ns", false); err == nil {
		t.Errorf("a host device other than AMD's GPUs: no error")
	}
}
