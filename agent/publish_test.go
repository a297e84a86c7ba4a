package agent_test

// Where services and apps publish their ports (issue 11, "safe by
// default"): 127.0.0.1 unless a file says otherwise, read back from the
// runtime, and a container exposed elsewhere is recreated with that cause.

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

func TestEndpoint(t *testing.T) {
	for _, c := range []struct{ hostIP, want string }{
		{"127.0.0.1", "http://127.0.0.1:8000"},
		{"0.0.0.0", "http://127.0.0.1:8000"},
		{"", "http://127.0.0.1:8000"},
		{"::", "http://[::1]:8000"},
		{"::1", "http://[::1]:8000"},
		{"192.0.2.7", "http://192.0.2.7:8000"},
		{"fd00::2", "http://[fd00::2]:8000"},
	} {
		if got := agent.Endpoint(c.hostIP, 8000); got != c.want {
			t.Errorf("Endpoint(%q) = %q, want %q", c.hostIP, got, c.want)
		}
	}
}

// setHostIP writes host_ip into aima.yaml (by hand, as an editor would; the
// sync loop reads the work tree).
func setHostIP(t *testing.T, st *state.Store, ip string) {
	t.Helper()
	p := filepath.Join(st.Dir, "aima.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(l, "host_ip:") && l != "" {
			keep = append(keep, l)
		}
	}
	if ip != "" {
		keep = append(keep, "host_ip: \""+ip+"\"\n")
	}
	if err := os.WriteFile(p, []byte(strings.Join(keep, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// publishedOn returns the host addresses the container of obj was created
// to publish on (the spec the runtime received).
func (e *fakeEnv) publishedOn(t *testing.T) []string {
	t.Helper()
	spec, err := e.rt.Spec(e.only(t).ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range spec.Ports {
		out = append(out, p.HostIP)
	}
	return out
}

// TestPublishDefaultAndOverrides: no host_ip anywhere publishes on
// 127.0.0.1; aima.yaml's host_ip is the default of every service and app;
// a file's own host_ip wins; each change is a recreate naming ports and
// where the port was and is wanted; the endpoint is an address this
// machine reaches.
func TestPublishDefaultAndOverrides(t *testing.T) {
	e := newFakeEnv(t)
	port := testenv.FreePort(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", port, nil)
	p := strconv.Itoa(port)

	pass(t, e.s)
	if diff := cmp.Diff([]string{"127.0.0.1"}, e.publishedOn(t)); diff != "" {
		t.Errorf("default publish address (-want +got):\n%s", diff)
	}
	if st := statusOf(t, e.s, obj); st.Endpoint != "http://127.0.0.1:"+p || st.Drift {
		t.Errorf("status = %+v, want endpoint http://127.0.0.1:%s and no drift", st, p)
	}

	// aima.yaml: serve the LAN.
	setHostIP(t, e.st, "0.0.0.0")
	if st := statusOf(t, e.s, obj); !st.Drift || st.Endpoint != "http://127.0.0.1:"+p {
		t.Errorf("status after host_ip 0.0.0.0 in aima.yaml = %+v, want drift, endpoint on 127.0.0.1", st)
	}
	want := []string{"recreate (spec changed: ports; port " + p + " published on 127.0.0.1, want every address)"}
	if diff := cmp.Diff(want, opsOf(planOf(t, e.s), obj)); diff != "" {
		t.Errorf("plan after host_ip 0.0.0.0 in aima.yaml (-want +got):\n%s", diff)
	}
	pass(t, e.s)
	if diff := cmp.Diff([]string{"0.0.0.0"}, e.publishedOn(t)); diff != "" {
		t.Errorf("publish address after aima.yaml host_ip 0.0.0.0 (-want +got):\n%s", diff)
	}
	if res := planOf(t, e.s); !res.Plan.Empty() {
		t.Errorf("plan after converging on 0.0.0.0:\n%s", res.Plan)
	}

	// The file's own host_ip wins over aima.yaml's.
	updateService(t, e.st, "chat", func(s *state.Service) { s.HostIP = "192.0.2.7" })
	pass(t, e.s)
	if diff := cmp.Diff([]string{"192.0.2.7"}, e.publishedOn(t)); diff != "" {
		t.Errorf("publish address with the service's host_ip (-want +got):\n%s", diff)
	}
	if st := statusOf(t, e.s, obj); st.Endpoint != "http://192.0.2.7:"+p {
		t.Errorf("endpoint = %q, want the address itself", st.Endpoint)
	}

	// An invalid aima.yaml does not move anything: the committed version
	// (no host_ip: 127.0.0.1 for files without their own) stays in effect.
	updateService(t, e.st, "chat", func(s *state.Service) { s.HostIP = "" })
	setHostIP(t, e.st, "not-an-address")
	pass(t, e.s)
	if diff := cmp.Diff([]string{"127.0.0.1"}, e.publishedOn(t)); diff != "" {
		t.Errorf("publish address with an invalid aima.yaml (-want +got):\n%s", diff)
	}
}

// TestPublishApp: an app's ports follow the same rule.
func TestPublishApp(t *testing.T) {
	e := newFakeEnv(t)
	e.rt.AddImage("webui:1", "")
	port := testenv.FreePort(t)
	if _, err := e.st.Create(state.KindApp, &state.App{Name: "webui", Image: "webui:1", Ports: []string{strconv.Itoa(port) + ":8080"}}); err != nil {
		t.Fatal(err)
	}
	pass(t, e.s)
	if diff := cmp.Diff([]string{"127.0.0.1"}, e.publishedOn(t)); diff != "" {
		t.Errorf("app publish address (-want +got):\n%s", diff)
	}
	if _, err := e.st.Update(state.KindApp, "webui", "", func(o state.Object) (state.Object, error) {
		o.(*state.App).HostIP = "0.0.0.0"
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	pass(t, e.s)
	if diff := cmp.Diff([]string{"0.0.0.0"}, e.publishedOn(t)); diff != "" {
		t.Errorf("app publish address with host_ip 0.0.0.0 (-want +got):\n%s", diff)
	}
}

// TestPublishUpgradeRecreatesExposedContainer: a container made by the
// previous aima, which published on every address and hashed no host_ip,
// is recreated once on 127.0.0.1 (a security fix: the exposure is
// closed on upgrade), and `aima diff` says why. A container whose labels
// match the files but which is published on every address (made by hand
// with copied labels) is recreated too: the address is read back from
// the runtime, not trusted from the labels.
func TestPublishUpgradeRecreatesExposedContainer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		labelsFrom func(spec container.Spec) container.Spec // the spec the labels describe
		cause      string
	}{
		{"previous version", func(s container.Spec) container.Spec { return s }, "spec changed: ports; port %d published on every address, want 127.0.0.1"},
		{"labels copied", nil, "port %d published on every address, want 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEnv(t)
			port := testenv.FreePort(t)
			obj := addService(t, e.st, "chat", "tiny", "stub", port, nil)
			wanted, err := agent.Render(e.st, e.s.Host, "")
			if err != nil || len(wanted) != 1 || wanted[0].Desired == nil {
				t.Fatalf("render: %v %+v", err, wanted)
			}
			d := *wanted[0].Desired
			exposed := d.Spec
			exposed.Ports = []container.Port{{HostIP: "", HostPort: port, ContainerPort: 8000}}
			labelled := d
			if tc.labelsFrom != nil {
				labelled.Spec = tc.labelsFrom(exposed)
			}
			exposed.Labels = plan.Labels(labelled, e.instance)
			exposed.Image = fakeStubTag // what "aima-stub" is built as here
			ctx := context.Background()
			id, err := e.rt.Create(ctx, exposed)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.rt.Start(ctx, id); err != nil {
				t.Fatal(err)
			}

			if st := statusOf(t, e.s, obj); !st.Drift {
				t.Errorf("status of the exposed container = %+v, want drift", st)
			}
			want := []string{"recreate (" + strings.Replace(tc.cause, "%d", strconv.Itoa(port), 1) + ")"}
			if diff := cmp.Diff(want, opsOf(planOf(t, e.s), obj)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			pass(t, e.s)
			if c := e.only(t); c.ID == id {
				t.Errorf("the exposed container %s was kept", id)
			}
			if diff := cmp.Diff([]string{"127.0.0.1"}, e.publishedOn(t)); diff != "" {
				t.Errorf("publish address after the recreate (-want +got):\n%s", diff)
			}
			if res := planOf(t, e.s); !res.Plan.Empty() {
				t.Errorf("recreated more than once:\n%s", res.Plan)
			}
		})
	}
}
