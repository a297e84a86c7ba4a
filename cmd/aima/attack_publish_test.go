package main

// Issue 11, "safe by default": a service's port is published on 127.0.0.1
// unless a file says otherwise, as Ollama binds 127.0.0.1. Each test runs
// the real binary against the real daemon, looks at the container's port
// bindings through the Docker SDK, and dials the port from the machine's
// other addresses the way a neighbour on the LAN would.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"

	"github.com/aima-dev/aima/agent"
	acontainer "github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// publishName is a service name of this test's own (container names are
// global on the daemon, and other packages' tests run at the same time).
func (e *aimaEnv) publishName(what string) string {
	return what + "-" + strings.TrimPrefix(e.instance, "t-")
}

// bindings returns the host bindings of the container of service name as
// Docker has them now: the configured ones (HostConfig) and the actual
// ones (NetworkSettings), as "IP:PORT" strings.
func (e *aimaEnv) bindings(name string) (configured, actual []string) {
	e.t.Helper()
	configured, actual, err := e.tryBindings(name)
	if err != nil {
		e.t.Fatalf("inspect the container of %s: %v", name, err)
	}
	return configured, actual
}

// tryBindings is bindings for a container that may be gone for a moment
// (being recreated).
func (e *aimaEnv) tryBindings(name string) (configured, actual []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := e.docker.ContainerInspect(ctx, e.cname(name))
	if err != nil {
		return nil, nil, err
	}
	add := func(out []string, m nat.PortMap) []string {
		for _, bs := range m {
			for _, b := range bs {
				out = append(out, net.JoinHostPort(b.HostIP, b.HostPort))
			}
		}
		return out
	}
	if in.HostConfig != nil {
		configured = add(configured, in.HostConfig.PortBindings)
	}
	if in.NetworkSettings != nil {
		actual = add(actual, in.NetworkSettings.Ports)
	}
	return configured, actual, nil
}

// otherAddrs returns the machine's addresses that are not loopback or
// link-local: where a neighbour reaches it (the LAN, the Docker bridge).
func otherAddrs(t *testing.T) (v4, all []string) {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("interface addresses: %v", err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsUnspecified() {
			continue
		}
		all = append(all, n.IP.String())
		if n.IP.To4() != nil {
			v4 = append(v4, n.IP.String())
		}
	}
	return v4, all
}

// answers reports whether GET http://host:port/health answers 200.
func answers(host string, port int) (bool, string) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/health")
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, resp.Status
}

// wantLoopbackOnly checks that the service's container publishes port on
// 127.0.0.1 and nowhere else: in Docker's configuration, in the bindings
// Docker made, and from every other address of the machine.
func (e *aimaEnv) wantLoopbackOnly(name string, port int) {
	e.t.Helper()
	want := "127.0.0.1:" + strconv.Itoa(port)
	configured, actual := e.bindings(name)
	if len(configured) != 1 || configured[0] != want {
		e.t.Errorf("%s: configured bindings %v, want only %s", name, configured, want)
	}
	if len(actual) != 1 || actual[0] != want {
		e.t.Errorf("%s: Docker's bindings %v, want only %s", name, actual, want)
	}
	if ok, detail := answers("127.0.0.1", port); !ok {
		e.t.Errorf("%s: not reachable on %s: %s", name, want, detail)
	}
	_, others := otherAddrs(e.t)
	if len(others) == 0 {
		e.t.Logf("this machine has no address but loopback: the LAN check has nothing to dial")
	}
	for _, ip := range others {
		if ok, detail := answers(ip, port); ok {
			e.t.Errorf("%s: reachable from the network on %s port %d (%s); want 127.0.0.1 only", name, ip, port, detail)
		}
	}
}

// TestAttackPublishLoopbackByDefault: a stub service created the default
// way publishes on 127.0.0.1 only; a neighbour dialling any other address
// of the machine gets nothing, and the endpoint aima reports works.
func TestAttackPublishLoopbackByDefault(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	name := e.publishName("pub")
	e.mustAima("service", "create", "--name", name, "--model-id", "tiny", "--engine-type", "stub")
	st := e.waitStatus(name, "running", 60*time.Second)
	port := int(byName(e.cliList("service"))[name]["port"].(float64))
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); st["endpoint"] != want {
		t.Errorf("endpoint %v, want %s", st["endpoint"], want)
	}
	e.wantLoopbackOnly(name, port)
	if out, _, code := e.aima("diff"); code != 0 {
		t.Errorf("aima diff: exit %d, want 0 (in sync):\n%s", code, out)
	}
	e.checkGit(false)
}

// TestAttackPublishAllAddressesWhenAsked: host_ip 0.0.0.0 in the file (here
// through the API) publishes on every IPv4 address, reachable from the
// machine's other addresses; the endpoint stays one this machine reaches.
// Setting it back (CLI --host-ip) recreates the container on 127.0.0.1,
// which closes the port to the network again.
func TestAttackPublishAllAddressesWhenAsked(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	name := e.publishName("lan")
	created := e.mustCall("POST", "/api/service/create", `{"name": "`+name+`", "model": "tiny", "engine": "stub", "host_ip": "0.0.0.0"}`, http.StatusCreated)
	if created["host_ip"] != "0.0.0.0" {
		t.Fatalf("POST /api/service/create: host_ip %v, want 0.0.0.0: %v", created["host_ip"], created)
	}
	port := int(created["port"].(float64))
	st := e.waitStatus(name, "running", 60*time.Second)
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); st["endpoint"] != want {
		t.Errorf("endpoint %v, want %s", st["endpoint"], want)
	}
	want := "0.0.0.0:" + strconv.Itoa(port)
	configured, actual := e.bindings(name)
	if len(configured) != 1 || configured[0] != want || len(actual) != 1 || actual[0] != want {
		t.Errorf("bindings: configured %v, Docker's %v; want only %s", configured, actual, want)
	}
	v4, _ := otherAddrs(t)
	for _, ip := range v4 {
		if ok, detail := answers(ip, port); !ok {
			t.Errorf("host_ip 0.0.0.0: not reachable on %s port %d: %s", ip, port, detail)
		}
	}
	// A bad address is refused, naming the field; nothing changes.
	if _, stderr, code := e.aima("service", "update", name, "--host-ip", "0.0.0.0.0"); code == 0 || !strings.Contains(stderr, "host_ip") {
		t.Errorf("update --host-ip 0.0.0.0.0: exit %d: %s", code, stderr)
	}

	// Back to this machine only.
	before := e.containers()
	e.mustAima("service", "update", name, "--host-ip", "127.0.0.1")
	waitUntil(t, 60*time.Second, "the container is recreated on 127.0.0.1", func() (bool, string) {
		configured, actual, err := e.tryBindings(name)
		ok := err == nil && len(actual) == 1 && actual[0] == "127.0.0.1:"+strconv.Itoa(port)
		return ok, fmt.Sprintf("configured %v, actual %v, %v", configured, actual, err)
	})
	e.waitStatus(name, "running", 60*time.Second)
	if after := e.containers(); len(after) != 1 || len(before) != 1 || after[0].ID == before[0].ID {
		t.Errorf("containers before %s, after %s: want one, replaced", describe(before), describe(after))
	}
	e.wantLoopbackOnly(name, port)
	e.checkGit(false)
}

// TestAttackPublishUpgradeClosesExposure: a container left by an earlier
// aima, which published every service on every address, is exposed to the
// network. The new aima reports it (`aima diff`: recreate, naming the port
// and both addresses) and `aima sync` recreates it on 127.0.0.1, once.
func TestAttackPublishUpgradeClosesExposure(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	name := e.publishName("old")
	e.mustAima("service", "create", "--name", name, "--model-id", "tiny", "--engine-type", "stub")

	// The container the earlier aima made from these files: the same spec
	// without an address, labelled with that spec's hash.
	st, err := state.Open(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	wanted, err := agent.Render(st, agent.Host{}, "")
	if err != nil || len(wanted) != 1 || wanted[0].Desired == nil {
		t.Fatalf("render: %v %+v", err, wanted)
	}
	d := *wanted[0].Desired
	port := d.Spec.Ports[0].HostPort
	old := d.Spec
	old.Ports = []acontainer.Port{{HostPort: port, ContainerPort: d.Spec.Ports[0].ContainerPort}}
	d.Spec = old
	old.Labels = plan.Labels(d, e.instance)
	old.Image = testenv.StubImage(t)
	rt, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := rt.Create(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	v4, _ := otherAddrs(t)
	for _, ip := range v4 {
		waitUntil(t, 30*time.Second, "the old container answers on "+ip, func() (bool, string) { return answers(ip, port) })
	}

	out, stderr, code := e.aima("diff")
	wantLine := fmt.Sprintf("~ service/%s recreate (spec changed: ports; port %d published on every address, want 127.0.0.1)", name, port)
	if code != 1 || !strings.Contains(out, wantLine) {
		t.Errorf("aima diff: exit %d, want 1 and %q:\n%s%s", code, wantLine, out, stderr)
	}
	e.mustAima("sync", "--wait", "--timeout", "60s")
	if in, err := e.docker.ContainerInspect(ctx, id); err == nil {
		t.Errorf("the exposed container %s is still there (%s)", id[:12], in.State.Status)
	}
	e.wantLoopbackOnly(name, port)
	if out, _, code := e.aima("diff"); code != 0 {
		t.Errorf("aima diff after the sync: exit %d, want 0 (recreated once):\n%s", code, out)
	}
	e.checkGit(false)
}
