package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/container"
)

// on returns d publishing its ports on hostIP.
func on(d Desired, hostIP string) Desired {
	d.Spec.Ports = append([]container.Port(nil), d.Spec.Ports...)
	for i := range d.Spec.Ports {
		d.Spec.Ports[i].HostIP = hostIP
	}
	return d
}

func TestMisplaced(t *testing.T) {
	spec := on(svc("qwen", "vllm:1", 8000), "127.0.0.1").Spec
	every := on(svc("qwen", "vllm:1", 8000), "0.0.0.0").Spec
	for _, tc := range []struct {
		name     string
		spec     container.Spec
		observed []container.Port
		want     string
	}{
		{"as asked", spec, []container.Port{{HostIP: "127.0.0.1", HostPort: 8000, ContainerPort: 8000}}, ""},
		{"nothing observed (not running)", spec, nil, ""},
		{"every address, want loopback", spec, []container.Port{{HostIP: "", HostPort: 8000, ContainerPort: 8000}},
			"port 8000 published on every address, want 127.0.0.1"},
		{"docker's two entries for every address", spec, []container.Port{{HostIP: "0.0.0.0", HostPort: 8000, ContainerPort: 8000}, {HostIP: "::", HostPort: 8000, ContainerPort: 8000}},
			"port 8000 published on every address, want 127.0.0.1"},
		{"loopback plus every address", spec, []container.Port{{HostIP: "127.0.0.1", HostPort: 8000, ContainerPort: 8000}, {HostIP: "", HostPort: 8000, ContainerPort: 8000}},
			"port 8000 published on every address, want 127.0.0.1"},
		{"another interface", spec, []container.Port{{HostIP: "192.0.2.7", HostPort: 8000, ContainerPort: 8000}},
			"port 8000 published on 192.0.2.7, want 127.0.0.1"},
		{"another host port", spec, []container.Port{{HostIP: "127.0.0.1", HostPort: 9000, ContainerPort: 8000}},
			"container port 8000 published on 127.0.0.1 port 9000, want 127.0.0.1 port 8000"},
		{"a port not asked for", spec, []container.Port{{HostIP: "127.0.0.1", HostPort: 8000, ContainerPort: 8000}, {HostIP: "", HostPort: 9000, ContainerPort: 22}},
			"port 9000 published on every address, not asked for"},
		{"0.0.0.0 asked, docker reports every address as empty", every, []container.Port{{HostIP: "", HostPort: 8000, ContainerPort: 8000}}, ""},
		{"0.0.0.0 asked, loopback observed", every, []container.Port{{HostIP: "127.0.0.1", HostPort: 8000, ContainerPort: 8000}},
			"port 8000 published on 127.0.0.1, want every address"},
		{"IPv6 forms compare as addresses", on(svc("q", "i", 8000), "fd00::2").Spec, []container.Port{{HostIP: "fd00:0::2", HostPort: 8000, ContainerPort: 8000}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Misplaced(tc.spec, tc.observed); got != tc.want {
				t.Errorf("Misplaced = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRecreatePublishedOnWrongAddress: the planner reads back where a
// container's ports are published. A container of the previous aima
// (published on every address, labels without host_ip) is recreated once
// on 127.0.0.1, the cause naming the field and the exposure; a container
// whose labels match but which is published elsewhere is recreated too; a
// container as asked, or one not running (nothing published to read), is
// not recreated for it.
func TestRecreatePublishedOnWrongAddress(t *testing.T) {
	want := on(svc("qwen", "vllm:1", 8000), "127.0.0.1")
	old := svc("qwen", "vllm:1", 8000) // what the previous version rendered: HostIP ""
	oldRunning := made(old, "c1", container.StateRunning, 0)
	oldRunning.Ports = []container.Port{{HostIP: "", HostPort: 8000, ContainerPort: 8000}} // as Docker lists it

	// Labels say 127.0.0.1, Docker says every address: hand-made, or a
	// daemon that ignored the address.
	liar := made(want, "c2", container.StateRunning, 0)
	liar.Ports = []container.Port{{HostIP: "", HostPort: 8000, ContainerPort: 8000}}

	oldExited := made(old, "c3", container.StateExited, 0)
	oldExited.Ports = nil

	for _, tc := range []struct {
		name     string
		observed container.Container
		ops      string
		changed  []string
	}{
		{"previous version, running", oldRunning,
			"~ service/qwen recreate (spec changed: ports; port 8000 published on every address, want 127.0.0.1)\n", []string{"ports"}},
		{"labels match, published elsewhere", liar,
			"~ service/qwen recreate (port 8000 published on every address, want 127.0.0.1)\n", []string{"ports"}},
		{"previous version, exited", oldExited,
			"~ service/qwen recreate (spec changed: ports)\n", []string{"ports"}},
		{"as asked", made(want, "c4", container.StateRunning, 0), "No changes. Containers match the state files.\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Diff([]Desired{want}, []container.Container{tc.observed}, instance, Options{Prune: true})
			if diff := cmp.Diff(tc.ops, p.String()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if len(p.Ops) == 1 {
				if diff := cmp.Diff(tc.changed, p.Ops[0].Changed); diff != "" {
					t.Errorf("changed (-want +got):\n%s", diff)
				}
			}
		})
	}
}
