package plan

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/container"
)

const instance = "box1"

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// svc is a running service publishing host port port (none when 0).
func svc(name, image string, port int, env ...string) Desired {
	d := Desired{
		Kind:     "service",
		Name:     name,
		Running:  true,
		Revision: "rev1",
		Spec: container.Spec{
			Name:   Name("service", name),
			Image:  image,
			Env:    env,
			Labels: map[string]string{container.LabelEngine: "stub", container.LabelModel: "tiny"},
		},
	}
	if port != 0 {
		d.Spec.Ports = []container.Port{{HostPort: port, ContainerPort: 8000}}
	}
	return d
}

func app(name, image string, port int) Desired {
	d := svc(name, image, port)
	d.Kind = "app"
	d.Spec.Name = Name("app", name)
	d.Spec.Labels = nil
	return d
}

func stopped(d Desired) Desired {
	d.Running = false
	return d
}

func revision(d Desired, rev string) Desired {
	d.Revision = rev
	return d
}

// made is the container aima would have made for d, as observed, with the
// given id and state, created minute minutes after t0.
func made(d Desired, id string, state container.State, minute int) container.Container {
	return container.Container{
		ID:      id,
		Name:    d.Spec.Name,
		Image:   d.Spec.Image,
		Labels:  Labels(d, instance),
		State:   state,
		Ports:   d.Spec.Ports,
		Created: t0.Add(time.Duration(minute) * time.Minute),
	}
}

// foreign is the container another aima instance made for d.
func foreign(d Desired, id, inst string) container.Container {
	c := made(d, id, container.StateRunning, 0)
	c.Labels = Labels(d, inst)
	return c
}

func renamed(c container.Container, name string) container.Container {
	c.Name = name
	return c
}

func exited(c container.Container, code int) container.Container {
	c.State = container.StateExited
	c.ExitCode = code
	return c
}

func TestDiff(t *testing.T) {
	qwen := svc("qwen", "vllm:1", 8000, "HF_TOKEN=secret1", "LOG=info")
	llama := svc("llama", "llamacpp:1", 8001)
	webui := app("webui", "open-webui:1", 3000)

	tests := []struct {
		name     string
		desired  []Desired
		observed []container.Container
		prune    bool
		want     string
	}{
		{
			name: "nothing at all",
			want: "No changes. Containers match the state files.\n",
		},
		{
			name:     "in sync",
			desired:  []Desired{qwen, llama, webui},
			observed: []container.Container{made(qwen, "q1", "running", 0), made(llama, "l1", "running", 0), made(webui, "w1", "running", 0)},
			prune:    true,
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name:     "new revision alone changes nothing",
			desired:  []Desired{revision(qwen, "rev2")},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name:    "no container",
			desired: []Desired{qwen, webui},
			want: "+ app/webui create (no container)\n" +
				"+ service/qwen create (no container)\n",
		},
		{
			name:    "stopped without container",
			desired: []Desired{stopped(qwen)},
			want:    "No changes. Containers match the state files.\n",
		},
		{
			name:     "stopped with container",
			desired:  []Desired{stopped(qwen), stopped(llama)},
			observed: []container.Container{made(qwen, "q1", "running", 0), exited(made(llama, "l1", "", 0), 0)},
			want: "- service/llama remove (state: stopped)\n" +
				"- service/qwen remove (state: stopped)\n",
		},
		{
			name:     "image changed",
			desired:  []Desired{svc("qwen", "vllm:2", 8000, "HF_TOKEN=secret1", "LOG=info")},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			want:     "~ service/qwen recreate (spec changed: image)\n",
		},
		{
			name:     "env changed",
			desired:  []Desired{svc("qwen", "vllm:2", 8000, "HF_TOKEN=secret2", "LOG=info", "NEW=1")},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			want:     "~ service/qwen recreate (spec changed: env:HF_TOKEN, env:NEW, image)\n",
		},
		{
			name:    "spec changed, summary label missing",
			desired: []Desired{svc("qwen", "vllm:2", 8000)},
			observed: []container.Container{func() container.Container {
				c := made(qwen, "q1", "running", 0)
				delete(c.Labels, LabelSpec)
				return c
			}()},
			want: "~ service/qwen recreate (spec changed)\n",
		},
		{
			name:    "hash of an unknown scheme",
			desired: []Desired{qwen},
			observed: []container.Container{func() container.Container {
				c := made(qwen, "q1", "running", 0)
				c.Labels[container.LabelSpecHash] = "v9-0123456789abcdef"
				return c
			}()},
			want: "~ service/qwen recreate (spec changed)\n",
		},
		{
			name:     "renamed by hand",
			desired:  []Desired{qwen},
			observed: []container.Container{renamed(made(qwen, "q1", "running", 0), "my-qwen")},
			want:     "~ service/qwen recreate (spec changed: name)\n",
		},
		{
			name:     "exited",
			desired:  []Desired{qwen},
			observed: []container.Container{exited(made(qwen, "q1", "", 0), 137)},
			want:     "> service/qwen start (container exited (code 137))\n",
		},
		{
			name:     "created, never started",
			desired:  []Desired{qwen},
			observed: []container.Container{made(qwen, "q1", "created", 0)},
			want:     "> service/qwen start (container created, not started)\n",
		},
		{
			name:     "exited and changed",
			desired:  []Desired{svc("qwen", "vllm:2", 8000, "HF_TOKEN=secret1", "LOG=info")},
			observed: []container.Container{exited(made(qwen, "q1", "", 0), 1)},
			want:     "~ service/qwen recreate (spec changed: image)\n",
		},
		{
			name:     "dead",
			desired:  []Desired{qwen},
			observed: []container.Container{made(qwen, "q1", "dead", 0)},
			want:     "~ service/qwen recreate (container dead)\n",
		},
		{
			name:     "restarting and paused are left alone",
			desired:  []Desired{qwen, llama},
			observed: []container.Container{made(qwen, "q1", "restarting", 0), made(llama, "l1", "paused", 0)},
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name:     "being removed",
			desired:  []Desired{qwen, stopped(llama), svc("x", "changed", 0)},
			observed: []container.Container{made(qwen, "q1", "removing", 0), made(llama, "l1", "removing", 0), made(svc("x", "old", 0), "x1", "removing", 0), made(svc("gone", "i", 0), "g1", "removing", 0)},
			prune:    true,
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name:     "orphan pruned",
			desired:  []Desired{qwen},
			observed: []container.Container{made(qwen, "q1", "running", 0), made(svc("old", "i", 0), "o1", "running", 0), made(app("ui", "i", 0), "u1", "exited", 0)},
			prune:    true,
			want: "- app/ui remove (no file for app/ui)\n" +
				"- service/old remove (no file for service/old)\n",
		},
		{
			name:     "orphan kept",
			desired:  []Desired{qwen},
			observed: []container.Container{made(qwen, "q1", "running", 0), made(svc("old", "i", 0), "o1", "running", 0)},
			want:     "! service/old orphan: container aima-old kept (prune disabled)\n",
		},
		{
			name:    "orphan without kind and name labels",
			desired: []Desired{},
			observed: []container.Container{{
				ID: "z1", Name: "weird", State: "running",
				Labels: map[string]string{container.LabelManaged: "true", container.LabelInstance: instance},
			}},
			prune: true,
			want:  "- container/weird remove (no file for container/weird)\n",
		},
		{
			name:     "other instance is unmanaged and untouched",
			desired:  []Desired{llama},
			observed: []container.Container{made(llama, "l1", "running", 0), foreign(qwen, "f1", "box2")},
			prune:    true,
			want: "No changes. Containers match the state files.\n" +
				"! service/qwen unmanaged: container aima-qwen of instance \"box2\" (running)\n",
		},
		{
			name:     "other instance holds the container name",
			desired:  []Desired{svc("qwen", "vllm:1", 0)},
			observed: []container.Container{foreign(svc("qwen", "vllm:0", 0), "f1", "box2")},
			prune:    true,
			want: "! service/qwen conflict: container name aima-qwen is held by container aima-qwen of instance \"box2\"\n" +
				"! service/qwen unmanaged: container aima-qwen of instance \"box2\" (running)\n",
		},
		{
			name:    "a container with only an aima label is unmanaged, and holds its port",
			desired: []Desired{qwen},
			observed: []container.Container{{
				ID: "v1", Name: "vllm-by-hand", State: "running",
				Labels: map[string]string{container.LabelEngine: "vllm"},
				Ports:  []container.Port{{HostPort: 8000, ContainerPort: 8000}},
			}},
			prune: true,
			want: "! service/qwen conflict: host port 8000 is held by container vllm-by-hand with aima labels but no aima.instance\n" +
				"! container/vllm-by-hand unmanaged: container vllm-by-hand with aima labels but no aima.instance (running)\n",
		},
		{
			name:    "our instance label without aima.managed is not ours: never removed",
			desired: []Desired{},
			observed: []container.Container{func() container.Container {
				c := made(svc("old", "i", 0), "o1", "running", 0)
				delete(c.Labels, container.LabelManaged)
				return c
			}()},
			prune: true,
			want: "No changes. Containers match the state files.\n" +
				"! service/old unmanaged: container aima-old of instance \"" + instance + "\" without aima.managed=true (running)\n",
		},
		{
			name:    "other instance holds the port",
			desired: []Desired{qwen},
			observed: []container.Container{func() container.Container {
				c := foreign(svc("other", "x", 8000), "f1", "box2")
				c.Ports = []container.Port{{HostIP: "0.0.0.0", HostPort: 8000, ContainerPort: 80}, {HostIP: "::", HostPort: 8000, ContainerPort: 80}}
				return c
			}()},
			want: "! service/qwen conflict: host port 8000 is held by container aima-other of instance \"box2\"\n" +
				"! service/other unmanaged: container aima-other of instance \"box2\" (running)\n",
		},
		{
			name:     "kept orphan holds the port",
			desired:  []Desired{qwen},
			observed: []container.Container{made(svc("old", "i", 8000), "o1", "running", 0)},
			want: "! service/old orphan: container aima-old kept (prune disabled)\n" +
				"! service/qwen conflict: host port 8000 is held by orphan container aima-old of service/old (prune disabled)\n",
		},
		{
			name:     "pruned orphan frees the port",
			desired:  []Desired{qwen},
			observed: []container.Container{made(svc("old", "i", 8000), "o1", "running", 0)},
			prune:    true,
			want: "- service/old remove (no file for service/old)\n" +
				"+ service/qwen create (no container)\n",
		},
		{
			name:     "port claimed twice",
			desired:  []Desired{qwen, svc("dup", "x", 8000), llama, svc("other", "x", 8001), webui},
			observed: []container.Container{made(qwen, "q1", "exited", 0)},
			want: "+ app/webui create (no container)\n" +
				"! service/dup conflict: host port 8000 also claimed by service/qwen\n" +
				"! service/llama conflict: host port 8001 also claimed by service/other\n" +
				"! service/other conflict: host port 8001 also claimed by service/llama\n" +
				"! service/qwen conflict: host port 8000 also claimed by service/dup\n",
		},
		{
			name: "port claimed twice on distinct addresses",
			desired: func() []Desired {
				a, b := svc("a", "x", 8000), svc("b", "x", 8000)
				a.Spec.Ports[0].HostIP, b.Spec.Ports[0].HostIP = "127.0.0.1", "10.0.0.1"
				return []Desired{a, b, stopped(svc("c", "x", 8000))}
			}(),
			want: "+ service/a create (no container)\n" +
				"+ service/b create (no container)\n",
		},
		{
			name:    "duplicate containers keep the newest",
			desired: []Desired{qwen},
			observed: []container.Container{
				renamed(made(qwen, "q-old", "running", 0), "aima-qwen-old"),
				made(qwen, "q-new", "running", 5),
				renamed(made(qwen, "q-gone", "removing", 1), "aima-qwen-gone"),
			},
			want: "- service/qwen remove (duplicate of aima-qwen q-new, keeping the newest)\n",
		},
		{
			name:     "declared twice",
			desired:  []Desired{qwen, svc("qwen", "vllm:2", 0)},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			want:     "! service/qwen conflict: declared more than once\n",
		},
		{
			name:    "two objects, one container name",
			desired: []Desired{svc("app-webui", "x", 0), app("webui", "y", 0)},
			want: "! app/webui conflict: container name aima-app-webui also used by service/app-webui\n" +
				"! service/app-webui conflict: container name aima-app-webui also used by app/webui\n",
		},
		{
			name:     "empty spec name gets the deterministic name",
			desired:  []Desired{func() Desired { d := llama; d.Spec.Name = ""; return d }()},
			observed: []container.Container{renamed(made(llama, "l1", "running", 0), ContainerName(instance, "service", "llama", 1))},
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name: "mixed, stable order",
			desired: []Desired{
				webui,
				svc("qwen", "vllm:2", 8000, "HF_TOKEN=secret1", "LOG=info"),
				llama,
				stopped(svc("b", "x", 0)),
				svc("a", "x", 0),
				svc("c", "x", 0),
			},
			observed: []container.Container{
				made(svc("zz", "x", 0), "z1", "running", 0),
				made(qwen, "q1", "running", 0),
				made(svc("b", "x", 0), "b1", "running", 0),
				exited(made(svc("c", "x", 0), "c1", "", 0), 2),
				foreign(svc("far", "x", 0), "f1", "box2"),
				made(webui, "w1", "running", 0),
			},
			prune: true,
			want: "+ service/a create (no container)\n" +
				"- service/b remove (state: stopped)\n" +
				"> service/c start (container exited (code 2))\n" +
				"+ service/llama create (no container)\n" +
				"~ service/qwen recreate (spec changed: image)\n" +
				"- service/zz remove (no file for service/zz)\n" +
				"! service/far unmanaged: container aima-far of instance \"box2\" (running)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Diff(tt.desired, tt.observed, instance, Options{Prune: tt.prune})
			if diff := cmp.Diff(tt.want, p.String()); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
			wantEmpty := strings.HasPrefix(tt.want, "No changes.")
			if p.Empty() != wantEmpty {
				t.Errorf("Empty() = %v, want %v", p.Empty(), wantEmpty)
			}
		})
	}
}

// TestDiffOperations checks what String does not show: execution order and
// the fields the executor needs.
func TestDiffOperations(t *testing.T) {
	qwen := svc("qwen", "vllm:1", 8000, "HF_TOKEN=secret1")
	qwen2 := svc("qwen", "vllm:1", 8000, "HF_TOKEN=secret2")
	desired := []Desired{svc("new", "x", 8001), qwen2, stopped(svc("idle", "x", 0)), svc("c", "x", 0)}
	observed := []container.Container{
		made(qwen, "q1", "running", 0),
		made(svc("idle", "x", 0), "i1", "running", 0),
		made(svc("old", "x", 8001), "o1", "running", 0),
		exited(made(svc("c", "x", 0), "c1", "", 0), 0),
	}
	p := Diff(desired, observed, instance, Options{Prune: true})

	type op struct {
		Op                    Op
		Kind, Name, Container string
		ID                    string
		Cause                 string
		Changed               []string
		Desired               string
	}
	var got []op
	for _, o := range p.Ops {
		d := ""
		if o.Desired != nil {
			d = o.Desired.Spec.Image + " " + strings.Join(o.Desired.Spec.Env, ",")
		}
		got = append(got, op{o.Op, o.Kind, o.Name, o.Container, o.ID, o.Cause, o.Changed, d})
	}
	want := []op{
		{Remove, "service", "idle", "aima-idle", "i1", "state: stopped", nil, "x "},
		{Remove, "service", "old", "aima-old", "o1", "no file for service/old", nil, ""},
		{Recreate, "service", "qwen", "aima-qwen", "q1", "spec changed: env:HF_TOKEN", []string{"env:HF_TOKEN"}, "vllm:1 HF_TOKEN=secret2"},
		{Create, "service", "new", "aima-new", "", "no container", nil, "x "},
		{Start, "service", "c", "aima-c", "c1", "container exited (code 0)", nil, "x "},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ops mismatch (-want +got):\n%s", diff)
	}
}

func TestDiffSecretsStayOut(t *testing.T) {
	const secret = "sk-live-0123456789"
	old := svc("qwen", "vllm:1", 8000, "API_KEY="+secret)
	cur := svc("qwen", "vllm:1", 8000, "API_KEY="+secret+"-rotated")
	c := made(old, "q1", "running", 0)
	for k, v := range c.Labels {
		if strings.Contains(v, secret) {
			t.Errorf("label %s carries the secret: %q", k, v)
		}
	}
	p := Diff([]Desired{cur}, []container.Container{c}, instance, Options{})
	if s := p.String(); strings.Contains(s, secret) {
		t.Errorf("plan text carries the secret:\n%s", s)
	}
	if want := "~ service/qwen recreate (spec changed: env:API_KEY)\n"; p.String() != want {
		t.Errorf("plan = %q, want %q", p.String(), want)
	}
}

func TestDiffNoInstance(t *testing.T) {
	d := svc("qwen", "x", 0)
	c := made(d, "q1", "running", 0)
	c.Labels[container.LabelInstance] = ""
	p := Diff([]Desired{stopped(d)}, []container.Container{c}, "", Options{Prune: true})
	if len(p.Ops) != 0 || len(p.Unmanaged) != 1 {
		t.Errorf("with no instance id nothing may be ours; got\n%s", p)
	}
}

func TestDiffLeavesInputs(t *testing.T) {
	desired := []Desired{svc("b", "x", 8000, "Z=1", "A=2"), svc("a", "y", 0)}
	desired[0].Spec.Name = ""
	observed := []container.Container{made(svc("a", "old", 0), "a2", "running", 1), made(svc("a", "old", 0), "a1", "running", 0)}
	wantD := []Desired{svc("b", "x", 8000, "Z=1", "A=2"), svc("a", "y", 0)}
	wantD[0].Spec.Name = ""
	wantO := []container.Container{made(svc("a", "old", 0), "a2", "running", 1), made(svc("a", "old", 0), "a1", "running", 0)}
	Diff(desired, observed, instance, Options{Prune: true})
	if diff := cmp.Diff(wantD, desired); diff != "" {
		t.Errorf("Diff modified desired (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantO, observed); diff != "" {
		t.Errorf("Diff modified observed (-want +got):\n%s", diff)
	}
}

// TestDiffDeterministic is a property test: random states, Diff'ed in
// shuffled order, always give the same plan.
func TestDiffDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	states := []container.State{"created", "running", "restarting", "paused", "exited", "dead", "removing"}
	for round := range 300 {
		var desired []Desired
		var observed []container.Container
		for i := range rng.IntN(8) {
			kind := []string{"service", "app"}[rng.IntN(2)]
			name := fmt.Sprintf("o%d", rng.IntN(6))
			d := svc(name, fmt.Sprintf("img:%d", rng.IntN(2)), 8000+rng.IntN(4)*rng.IntN(2), fmt.Sprintf("K=%d", rng.IntN(2)))
			d.Kind, d.Spec.Name = kind, Name(kind, name)
			d.Running = rng.IntN(4) != 0
			if rng.IntN(6) != 0 {
				desired = append(desired, d)
			}
			for j := range rng.IntN(3) {
				// An older spec now and then, so recreates happen.
				od := d
				if rng.IntN(3) == 0 {
					od = svc(name, "img:old", 0)
					od.Kind, od.Spec.Name = kind, d.Spec.Name
				}
				c := made(od, fmt.Sprintf("id-%d-%d", i, j), states[rng.IntN(len(states))], rng.IntN(3))
				c.ExitCode = rng.IntN(2)
				switch rng.IntN(6) {
				case 0:
					c.Labels[container.LabelInstance] = "box2"
				case 1:
					c.Name += "-renamed"
				}
				observed = append(observed, c)
			}
		}
		opts := Options{Prune: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 { // what the agent knows: a taken port, a missing image
			opts.HostPorts = map[int]string{8000 + rng.IntN(4): "process 1 (x)"}
			opts.ImageErrors = map[string]string{fmt.Sprintf("img:%d", rng.IntN(2)): "not found"}
		}
		want := Diff(desired, observed, instance, opts)
		for range 5 {
			d2 := append([]Desired(nil), desired...)
			o2 := append([]container.Container(nil), observed...)
			rng.Shuffle(len(d2), func(i, j int) { d2[i], d2[j] = d2[j], d2[i] })
			rng.Shuffle(len(o2), func(i, j int) { o2[i], o2[j] = o2[j], o2[i] })
			got := Diff(d2, o2, instance, opts)
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Fatalf("round %d: String differs after shuffle (-first +shuffled):\n%s", round, diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("round %d: Plan differs after shuffle (-first +shuffled):\n%s", round, diff)
			}
		}
	}
}

// TestDiffHolds: what the agent knows beyond the files and the containers
// (failures and when to retry, host ports taken outside Docker, images
// that could not be had, objects that cannot run) is the planner's input,
// so "not now" is decided here, with its cause, and `aima diff` shows it.
func TestDiffHolds(t *testing.T) {
	qwen := svc("qwen", "vllm:1", 8000)
	backoff := func(d Desired, b Backoff) Desired {
		if b.Spec == "" {
			b.Spec = Hash(d.Spec)
		}
		d.Backoff = &b
		return d
	}
	crash := Backoff{Retry: t0.Add(8 * time.Second), Attempts: 3, CrashLoop: true,
		Reason: "crash loop: the container exited and was restarted 3 times in 10m0s"}
	failed := Backoff{Retry: t0.Add(3500 * time.Millisecond), Attempts: 2, Reason: "start container aima-qwen: boom"}
	withAlts := func(d Desired, alts ...string) Desired {
		d.Alternatives = alts
		return d
	}
	nginx := map[int]string{8000: "process 123 (nginx)"}

	tests := []struct {
		name     string
		desired  []Desired
		observed []container.Container
		now      time.Time
		ports    map[int]string
		images   map[string]string
		want     string
		image    string // Image of the first operation
	}{
		{
			name:     "crash loop: the restart waits",
			desired:  []Desired{backoff(qwen, crash)},
			observed: []container.Container{exited(made(qwen, "q1", "", 0), 1)},
			want:     "= service/qwen held: restarting in 8s: crash loop: the container exited and was restarted 3 times in 10m0s\n",
		},
		{
			name:    "failed create: the retry waits",
			desired: []Desired{backoff(qwen, failed)},
			want:    "= service/qwen held: retrying in 4s after 2 failed attempts: start container aima-qwen: boom\n",
		},
		{
			name:    "one failed attempt, less than a second left",
			desired: []Desired{backoff(qwen, Backoff{Retry: t0.Add(time.Millisecond), Attempts: 1, Reason: "boom"})},
			want:    "= service/qwen held: retrying in 1s after 1 failed attempt: boom\n",
		},
		{
			name:     "backoff over: restarted",
			desired:  []Desired{backoff(qwen, crash)},
			observed: []container.Container{exited(made(qwen, "q1", "", 0), 1)},
			now:      t0.Add(8 * time.Second),
			want:     "> service/qwen start (container exited (code 1))\n",
		},
		{
			name:    "backoff of another spec: a changed file is tried at once",
			desired: []Desired{backoff(qwen, Backoff{Retry: t0.Add(time.Minute), Attempts: 5, Reason: "boom", Spec: "v1-0000000000000000"})},
			want:    "+ service/qwen create (no container)\n",
		},
		{
			name:     "backoff with nothing to do holds nothing",
			desired:  []Desired{backoff(qwen, crash)},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name:    "backoff holds the removal of a duplicate too",
			desired: []Desired{backoff(qwen, crash)},
			observed: []container.Container{
				made(qwen, "q-new", "running", 5),
				renamed(made(qwen, "q-old", "running", 0), "aima-qwen-old"),
			},
			want: "= service/qwen held: restarting in 8s: crash loop: the container exited and was restarted 3 times in 10m0s\n",
		},
		{
			name: "blocked: left alone with its container, not an orphan",
			desired: []Desired{{Kind: "service", Name: "chat", Running: true,
				Blocked: `resource slot "gpu" is exhausted: 20.0 GiB of 24.0 GiB used by qwen; this service needs 8.0 GiB`}},
			observed: []container.Container{made(svc("chat", "x", 8001), "c1", "exited", 0)},
			want:     "! service/chat cannot run: resource slot \"gpu\" is exhausted: 20.0 GiB of 24.0 GiB used by qwen; this service needs 8.0 GiB\n",
		},
		{
			name:    "host port taken by a process: no create",
			desired: []Desired{qwen},
			ports:   nginx,
			want:    "! service/qwen cannot run: host port 8000 is held by process 123 (nginx)\n",
		},
		{
			name:     "host port taken while exited: the container that cannot start is removed",
			desired:  []Desired{qwen},
			observed: []container.Container{exited(made(qwen, "q1", "", 0), 0)},
			ports:    nginx,
			want: "- service/qwen remove (cannot start: host port 8000 is held by process 123 (nginx))\n" +
				"! service/qwen cannot run: host port 8000 is held by process 123 (nginx)\n",
		},
		{
			name:     "host port of a changed spec taken: the running container stays",
			desired:  []Desired{svc("qwen", "vllm:1", 8002)},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			ports:    map[int]string{8002: "another process"},
			want:     "! service/qwen cannot run: host port 8002 is held by another process\n",
		},
		{
			name:     "a taken port matters only to what needs a container",
			desired:  []Desired{qwen, stopped(svc("idle", "x", 8000))},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			ports:    nginx,
			want:     "No changes. Containers match the state files.\n",
		},
		{
			name:    "main image could not be had: the first alternative left",
			desired: []Desired{withAlts(qwen, "mirror/vllm:1", "vllm:0")},
			images:  map[string]string{"vllm:1": "pull access denied", "mirror/vllm:1": "not found"},
			want:    "+ service/qwen create (no container; alternative image vllm:0, as vllm:1 and mirror/vllm:1 could not be had)\n",
			image:   "vllm:0",
		},
		{
			name:     "a recreate takes the alternative too",
			desired:  []Desired{withAlts(svc("qwen", "vllm:2", 8000), "vllm:1")},
			observed: []container.Container{made(qwen, "q1", "running", 0)},
			images:   map[string]string{"vllm:2": "pull access denied"},
			want:     "~ service/qwen recreate (spec changed: image; alternative image vllm:1, as vllm:2 could not be had)\n",
			image:    "vllm:1",
		},
		{
			name:    "no image left",
			desired: []Desired{withAlts(qwen, "mirror/vllm:1")},
			images:  map[string]string{"vllm:1": "pull access denied", "mirror/vllm:1": "not found"},
			want:    "! service/qwen cannot run: no image of the engine could be had; tried vllm:1: pull access denied; mirror/vllm:1: not found\n",
		},
		{
			name:    "the one image could not be had",
			desired: []Desired{qwen},
			images:  map[string]string{"vllm:1": "pull access denied"},
			want:    "! service/qwen cannot run: image vllm:1 is not available: pull access denied\n",
		},
		{
			name:     "a start needs no image",
			desired:  []Desired{qwen},
			observed: []container.Container{exited(made(qwen, "q1", "", 0), 0)},
			images:   map[string]string{"vllm:1": "pull access denied"},
			want:     "> service/qwen start (container exited (code 0))\n",
		},
		{
			name: "mixed, stable order",
			desired: []Desired{
				backoff(svc("b", "x", 0), failed),
				svc("a", "x", 8000),
				svc("c", "x", 0),
				{Kind: "app", Name: "ui", Running: true, Blocked: `variable TOKEN is not set`},
			},
			observed: []container.Container{exited(made(svc("c", "x", 0), "c1", "", 0), 2)},
			ports:    nginx,
			want: "> service/c start (container exited (code 2))\n" +
				"! app/ui cannot run: variable TOKEN is not set\n" +
				"! service/a cannot run: host port 8000 is held by process 123 (nginx)\n" +
				"= service/b held: retrying in 4s after 2 failed attempts: start container aima-qwen: boom\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			p := Diff(tt.desired, tt.observed, instance, Options{Prune: true, Now: now, HostPorts: tt.ports, ImageErrors: tt.images})
			if diff := cmp.Diff(tt.want, p.String()); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
			if wantEmpty := strings.HasPrefix(tt.want, "No changes."); p.Empty() != wantEmpty {
				t.Errorf("Empty() = %v, want %v", p.Empty(), wantEmpty)
			}
			if tt.image != "" && (len(p.Ops) == 0 || p.Ops[0].Image != tt.image) {
				t.Errorf("ops %+v, want the first to be made from %s", p.Ops, tt.image)
			}
			for _, h := range p.Held {
				if (h.Why == HoldBackoff) != !h.Retry.IsZero() {
					t.Errorf("hold %v: Retry %v", h, h.Retry)
				}
			}
		})
	}
}

// TestPhases: the executor's phases are the plan's execution order, one
// definition for both.
func TestPhases(t *testing.T) {
	ops := []Operation{
		{Op: Start, Name: "s1"}, {Op: Create, Name: "c1"}, {Op: Remove, Name: "r1"},
		{Op: Stop, Name: "t1"}, {Op: Create, Name: "c2"}, {Op: Recreate, Name: "x1"}, {Op: Remove, Name: "r2"},
	}
	var got [][]string
	for _, ph := range Phases(ops) {
		var names []string
		for _, o := range ph {
			names = append(names, o.Op.String()+" "+o.Name)
		}
		got = append(got, names)
	}
	want := [][]string{{"remove r1", "remove r2"}, {"recreate x1"}, {"create c1", "create c2"}, {"start s1"}, {"stop t1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	p := Diff([]Desired{svc("new", "x", 8001), stopped(svc("idle", "x", 0))},
		[]container.Container{made(svc("idle", "x", 0), "i1", "running", 0)}, instance, Options{Prune: true})
	if ph := Phases(p.Ops); len(ph) != 2 || ph[0][0].Op != Remove || ph[1][0].Op != Create {
		t.Errorf("phases of a plan: %+v", ph)
	}
}
