// Package containertest is the contract every container.Runtime must pass:
// the in-memory fake, the Docker adapter and the Kubernetes adapter (against
// a real API server, agent/kube) run the same Run, so a test of the sync
// loop against the fake says something about Docker and Kubernetes.
//
// The contract pins down what differs between "any runtime" and "Docker
// does whatever it does":
//
//   - Create leaves a container "created"; Start makes it "running"; Stop
//     makes a running container "exited"; Start restarts an exited one.
//     Docker and the fake are running when Start returns; a cluster
//     (Kubernetes) schedules the container first, so the contract waits
//     for "running" after Start (and for nothing after Stop).
//   - Names are unique: a second Create with a taken name is ErrConflict.
//   - List returns the containers that carry any aima label (a key under
//     "aima."), whether aima.managed=true or not, and no other. It reports
//     published ports only for running containers (Docker's list call does
//     not know them otherwise); Inspect reports the configured ports in
//     every state. For an exited container List and Inspect agree on the
//     exit code.
//   - A port is published on the spec's HostIP, and List reports that
//     address: a specific one as it is, every address ("", 0.0.0.0 or ::)
//     as "", once. The sync loop reads it back to recreate a container
//     exposed where the files do not say.
//   - After Remove, Inspect, Start, Stop, Logs and Remove itself are
//     ErrNotFound: Remove of a missing container is an error too, and
//     callers that only want it gone ignore ErrNotFound.
//   - EnsureImage of an image that is neither present nor pullable is
//     ErrImage; Create from such an image is ErrImage too. Where the nodes
//     pull images (Harness.NodesPull: Kubernetes), EnsureImage and Create
//     cannot know: the container is created, and once started it does not
//     run, and its Reason names the image.
//   - Events: a subscription is in place when Events returns; a container
//     started and then killed from outside yields a start and a die event
//     carrying its aima labels; Remove yields destroy. When ctx ends the
//     error channel receives an error.
//   - A runtime that cannot reach its backend fails every call with
//     ErrUnavailable within seconds.
package containertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/container"
)

// Harness is what Run needs from a runtime under test: the runtime itself
// and what differs between runtimes.
type Harness struct {
	// Runtime is the runtime under test, shared by all subtests (which run
	// in parallel), so it must be safe for concurrent use.
	Runtime container.Runtime
	// Image is present locally. Containers created from it with Cmd keep
	// running until stopped, listen on ContainerPort and write LogText to
	// their output soon after they start.
	Image         string
	Cmd           []string
	ContainerPort int
	LogText       string
	// AbsentImage is neither present nor pullable.
	AbsentImage string
	// NodesPull says the runtime's nodes pull images, not the runtime
	// (Kubernetes): an absent image shows in the started container's
	// state and Reason, not as ErrImage.
	NodesPull bool
	// Instance returns a new aima instance id for one subtest and arranges
	// for every container labelled with it to be removed when t ends.
	Instance func(t *testing.T) string
	// FreePort returns a host TCP port nothing is bound to.
	FreePort func(t *testing.T) int
	// Kill ends a running container from outside the runtime, as a crash
	// or the OOM killer would, with a non-zero exit code.
	Kill func(t *testing.T, id string)
	// Unavailable, when not nil, returns a runtime of the same kind that
	// cannot reach its backend (for Docker: a daemon address where nothing
	// listens).
	Unavailable func(t *testing.T) container.Runtime
	// Timeout bounds every wait for an asynchronous outcome (an event, a
	// state, log output); zero means 30s.
	Timeout time.Duration
}

// Run runs the contract against h as parallel subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Timeout == 0 {
		h.Timeout = 30 * time.Second
	}
	c := &contract{h: h}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"CreateList", c.createList},
		{"PublishAddress", c.publishAddress},
		{"StartStop", c.startStop},
		{"Logs", c.logs},
		{"NameConflict", c.nameConflict},
		{"Remove", c.remove},
		{"ListAimaLabelled", c.listAimaLabelled},
		{"EnsureImage", c.ensureImage},
		{"CreateAbsentImage", c.createAbsentImage},
		{"Events", c.events},
		{"Killed", c.killed},
		{"Unavailable", c.unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type contract struct {
	h Harness
}

// fixture is one subtest's instance and a spec builder for it.
type fixture struct {
	c        *contract
	instance string
}

func (c *contract) fixture(t *testing.T) fixture {
	t.Helper()
	return fixture{c: c, instance: c.h.Instance(t)}
}

// spec returns a managed spec named after the instance and suffix, with
// one published port on 127.0.0.1.
func (f fixture) spec(t *testing.T, suffix string) container.Spec {
	t.Helper()
	name := "aima-ct-" + f.instance + "-" + suffix
	return container.Spec{
		Name:  name,
		Image: f.c.h.Image,
		Cmd:   f.c.h.Cmd,
		Labels: map[string]string{
			container.LabelManaged:  "true",
			container.LabelInstance: f.instance,
			container.LabelKind:     "service",
			container.LabelName:     suffix,
		},
		Ports: []container.Port{{HostIP: "127.0.0.1", HostPort: f.c.h.FreePort(t), ContainerPort: f.c.h.ContainerPort}},
	}
}

func (c *contract) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (c *contract) create(ctx context.Context, t *testing.T, spec container.Spec) string {
	t.Helper()
	id, err := c.h.Runtime.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create(%s): %v", spec.Name, err)
	}
	if id == "" {
		t.Fatalf("Create(%s) returned an empty id", spec.Name)
	}
	return id
}

func (c *contract) start(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	if err := c.h.Runtime.Start(ctx, id); err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
}

func (c *contract) inspect(ctx context.Context, t *testing.T, id string) container.Container {
	t.Helper()
	got, err := c.h.Runtime.Inspect(ctx, id)
	if err != nil {
		t.Fatalf("Inspect(%s): %v", id, err)
	}
	return got
}

// listed returns the container with id from List, and whether it is there.
func (c *contract) listed(ctx context.Context, t *testing.T, id string) (container.Container, bool) {
	t.Helper()
	list, err := c.h.Runtime.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, got := range list {
		if got.ID == id {
			return got, true
		}
	}
	return container.Container{}, false
}

// waitState polls Inspect until the container is in state, and returns it.
func (c *contract) waitState(ctx context.Context, t *testing.T, id string, state container.State) container.Container {
	t.Helper()
	var got container.Container
	c.poll(t, "container "+id+" in state "+string(state), func() (bool, string) {
		got = c.inspect(ctx, t, id)
		return got.State == state, "state " + string(got.State)
	})
	return got
}

// poll calls cond until it reports true or h.Timeout passes, and fails the
// test with cond's last description then.
func (c *contract) poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(c.h.Timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s: %s", what, c.h.Timeout, last)
		}
		<-tick.C
	}
}

// wantLabels fails the test unless got carries every label in want.
func wantLabels(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	sub := map[string]string{}
	for k := range want {
		if v, ok := got[k]; ok {
			sub[k] = v
		}
	}
	if diff := cmp.Diff(want, sub); diff != "" {
		t.Errorf("%s labels (-want +got):\n%s", what, diff)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func (c *contract) createList(t *testing.T) {
	ctx := c.ctx(t)
	spec := c.fixture(t).spec(t, "create")
	id := c.create(ctx, t, spec)

	got, ok := c.listed(ctx, t, id)
	if !ok {
		t.Fatalf("List does not show created container %s", id)
	}
	if got.Name != spec.Name || got.Image != spec.Image || got.State != container.StateCreated {
		t.Errorf("List: got name %q image %q state %q, want %q %q %q", got.Name, got.Image, got.State, spec.Name, spec.Image, container.StateCreated)
	}
	wantLabels(t, "List", got.Labels, spec.Labels)
	if got.Created.IsZero() || time.Since(got.Created) > time.Hour {
		t.Errorf("List: created %v, want about now", got.Created)
	}

	in := c.inspect(ctx, t, id)
	if in.ID != id || in.Name != spec.Name || in.State != container.StateCreated {
		t.Errorf("Inspect: got id %q name %q state %q, want %q %q %q", in.ID, in.Name, in.State, id, spec.Name, container.StateCreated)
	}
	wantLabels(t, "Inspect", in.Labels, spec.Labels)
	if diff := cmp.Diff(spec.Ports, in.Ports); diff != "" {
		t.Errorf("Inspect ports (-want +got):\n%s", diff)
	}
	// Inspect by name finds the same container.
	if byName := c.inspect(ctx, t, spec.Name); byName.ID != id {
		t.Errorf("Inspect(%s) = id %q, want %q", spec.Name, byName.ID, id)
	}
}

// publishAddress: the address a port is published on is the spec's, and
// List reads it back; a binding on every address is reported as "".
func (c *contract) publishAddress(t *testing.T) {
	ctx := c.ctx(t)
	f := c.fixture(t)
	for i, tc := range []struct{ hostIP, listed string }{
		{"127.0.0.1", "127.0.0.1"},
		{"0.0.0.0", ""},
		{"", ""},
	} {
		spec := f.spec(t, fmt.Sprintf("publish%d", i))
		spec.Ports[0].HostIP = tc.hostIP
		id := c.create(ctx, t, spec)
		c.start(ctx, t, id)
		if in := c.inspect(ctx, t, id); len(in.Ports) != 1 || in.Ports[0] != spec.Ports[0] {
			t.Errorf("HostIP %q: Inspect ports %v, want the configured %v", tc.hostIP, in.Ports, spec.Ports)
		}
		want := []container.Port{{HostIP: tc.listed, HostPort: spec.Ports[0].HostPort, ContainerPort: spec.Ports[0].ContainerPort}}
		var got container.Container
		c.poll(t, fmt.Sprintf("container published on %q listed running", tc.hostIP), func() (bool, string) {
			var ok bool
			got, ok = c.listed(ctx, t, id)
			return ok && got.State == container.StateRunning, fmt.Sprintf("listed %v, state %q", ok, got.State)
		})
		if diff := cmp.Diff(want, got.Ports); diff != "" {
			t.Errorf("HostIP %q: List ports (-want +got):\n%s", tc.hostIP, diff)
		}
	}
}

func (c *contract) startStop(t *testing.T) {
	ctx := c.ctx(t)
	spec := c.fixture(t).spec(t, "startstop")
	id := c.create(ctx, t, spec)
	c.start(ctx, t, id)
	c.waitState(ctx, t, id, container.StateRunning)
	got, ok := c.listed(ctx, t, id)
	if !ok {
		t.Fatalf("List does not show running container %s", id)
	}
	if got.State != container.StateRunning {
		t.Errorf("List after Start: state %q, want %q", got.State, container.StateRunning)
	}
	if diff := cmp.Diff(spec.Ports, got.Ports); diff != "" {
		t.Errorf("List ports of running container (-want +got):\n%s", diff)
	}
	// Starting a running container is not an error.
	if err := c.h.Runtime.Start(ctx, id); err != nil {
		t.Errorf("Start of running container: %v", err)
	}

	// A process that has not yet installed its SIGTERM handler ignores
	// SIGTERM as PID 1, and Stop would wait out its timeout.
	c.waitLog(ctx, t, id)
	if err := c.h.Runtime.Stop(ctx, id, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := c.inspect(ctx, t, id); got.State != container.StateExited {
		t.Errorf("Inspect after Stop: state %q, want %q", got.State, container.StateExited)
	}
	// Stopping a stopped container is not an error.
	if err := c.h.Runtime.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("Stop of exited container: %v", err)
	}
	// An exited container starts again.
	c.start(ctx, t, id)
	c.waitState(ctx, t, id, container.StateRunning)
}

func (c *contract) logs(t *testing.T) {
	ctx := c.ctx(t)
	id := c.create(ctx, t, c.fixture(t).spec(t, "logs"))
	c.start(ctx, t, id)
	c.waitLog(ctx, t, id)
	// tail limits the output to the last lines.
	var buf bytes.Buffer
	if err := c.h.Runtime.Logs(ctx, id, 1, false, &buf); err != nil {
		t.Fatalf("Logs(tail 1): %v", err)
	}
	if n := strings.Count(strings.TrimSuffix(buf.String(), "\n"), "\n"); n != 0 || buf.Len() == 0 {
		t.Errorf("Logs(tail 1) = %q, want one line", buf.String())
	}
	// follow streams until ctx ends, and that is not an error.
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var fbuf syncBuffer
	go func() { done <- c.h.Runtime.Logs(fctx, id, 0, true, &fbuf) }()
	c.poll(t, "followed log text "+c.h.LogText, func() (bool, string) {
		s := fbuf.String()
		return strings.Contains(s, c.h.LogText), "output " + s
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Logs(follow) after cancel: %v", err)
		}
	case <-time.After(c.h.Timeout):
		t.Errorf("Logs(follow) did not return after cancel within %s", c.h.Timeout)
	}
}

// waitLog polls Logs until the container's output contains h.LogText.
func (c *contract) waitLog(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	c.poll(t, "log text "+c.h.LogText, func() (bool, string) {
		var buf bytes.Buffer
		if err := c.h.Runtime.Logs(ctx, id, 0, false, &buf); err != nil {
			t.Fatalf("Logs(%s): %v", id, err)
		}
		out := buf.String()
		return strings.Contains(out, c.h.LogText), "output " + out
	})
}

// syncBuffer is a bytes.Buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (c *contract) nameConflict(t *testing.T) {
	ctx := c.ctx(t)
	f := c.fixture(t)
	spec := f.spec(t, "conflict")
	id := c.create(ctx, t, spec)
	spec.Ports = f.spec(t, "conflict").Ports
	_, err := c.h.Runtime.Create(ctx, spec)
	wantErr(t, "second Create with the same name", err, container.ErrConflict)
	// The first container is untouched.
	if got := c.inspect(ctx, t, spec.Name); got.ID != id {
		t.Errorf("Inspect(%s) = id %q, want the first container %q", spec.Name, got.ID, id)
	}
}

func (c *contract) remove(t *testing.T) {
	ctx := c.ctx(t)
	spec := c.fixture(t).spec(t, "remove")
	id := c.create(ctx, t, spec)
	c.start(ctx, t, id)
	// Remove does not need a Stop first.
	if err := c.h.Runtime.Remove(ctx, id); err != nil {
		t.Fatalf("Remove of running container: %v", err)
	}
	if _, ok := c.listed(ctx, t, id); ok {
		t.Errorf("List still shows removed container %s", id)
	}
	_, err := c.h.Runtime.Inspect(ctx, id)
	wantErr(t, "Inspect of removed container", err, container.ErrNotFound)
	wantErr(t, "Start of removed container", c.h.Runtime.Start(ctx, id), container.ErrNotFound)
	wantErr(t, "Stop of removed container", c.h.Runtime.Stop(ctx, id, time.Second), container.ErrNotFound)
	wantErr(t, "Remove of removed container", c.h.Runtime.Remove(ctx, id), container.ErrNotFound)
	wantErr(t, "Logs of removed container", c.h.Runtime.Logs(ctx, id, 0, false, &bytes.Buffer{}), container.ErrNotFound)
	// The name is free again.
	id2 := c.create(ctx, t, spec)
	if id2 == id {
		t.Errorf("Create after Remove reused id %s", id)
	}
}

// listAimaLabelled: List shows every container with an aima label — the
// managed ones, and those it must report as unmanaged (no aima.managed, or
// only a label such as aima.engine) — and none without one.
func (c *contract) listAimaLabelled(t *testing.T) {
	ctx := c.ctx(t)
	f := c.fixture(t)
	managed := f.spec(t, "managed")
	unmanaged := f.spec(t, "unmanaged")
	delete(unmanaged.Labels, container.LabelManaged)
	lookalike := f.spec(t, "lookalike")
	lookalike.Labels = map[string]string{container.LabelEngine: "vllm"}
	plain := f.spec(t, "plain")
	plain.Labels = map[string]string{"com.example.app": "x"}
	mid := c.create(ctx, t, managed)
	uid := c.create(ctx, t, unmanaged)
	// Without the instance label the harness does not remove these two.
	lid := c.create(ctx, t, lookalike)
	pid := c.create(ctx, t, plain)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, id := range []string{lid, pid} {
			if err := c.h.Runtime.Remove(ctx, id); err != nil && !errors.Is(err, container.ErrNotFound) {
				t.Errorf("remove %s: %v", id, err)
			}
		}
	})
	for what, id := range map[string]string{"managed": mid, "without " + container.LabelManaged: uid, "with only " + container.LabelEngine: lid} {
		if _, ok := c.listed(ctx, t, id); !ok {
			t.Errorf("List does not show the container %s (%s)", id, what)
		}
	}
	if _, ok := c.listed(ctx, t, pid); ok {
		t.Errorf("List shows container %s, which has no aima label", pid)
	}
	// It exists all the same.
	c.inspect(ctx, t, pid)
}

func (c *contract) ensureImage(t *testing.T) {
	ctx := c.ctx(t)
	if err := c.h.Runtime.EnsureImage(ctx, c.h.Image, nil); err != nil {
		t.Errorf("EnsureImage(%s) of present image: %v", c.h.Image, err)
	}
	var lines []string
	err := c.h.Runtime.EnsureImage(ctx, c.h.AbsentImage, func(s string) { lines = append(lines, s) })
	if c.h.NodesPull {
		if err != nil {
			t.Errorf("EnsureImage(%s) where the nodes pull: %v", c.h.AbsentImage, err)
		}
		return
	}
	wantErr(t, "EnsureImage of absent image", err, container.ErrImage)
	if err != nil && !strings.Contains(err.Error(), c.h.AbsentImage) {
		t.Errorf("EnsureImage error %q does not name the image %s", err, c.h.AbsentImage)
	}
}

func (c *contract) createAbsentImage(t *testing.T) {
	ctx := c.ctx(t)
	spec := c.fixture(t).spec(t, "absent")
	spec.Image = c.h.AbsentImage
	if c.h.NodesPull {
		id := c.create(ctx, t, spec)
		c.start(ctx, t, id)
		c.poll(t, "the started container's reason naming "+c.h.AbsentImage, func() (bool, string) {
			got := c.inspect(ctx, t, id)
			return strings.Contains(got.Reason, c.h.AbsentImage), fmt.Sprintf("state %q reason %q", got.State, got.Reason)
		})
		if got := c.inspect(ctx, t, id); got.State == container.StateRunning {
			t.Errorf("container of an absent image: state %q", got.State)
		}
		return
	}
	_, err := c.h.Runtime.Create(ctx, spec)
	wantErr(t, "Create from absent image", err, container.ErrImage)
}

// nextEvent waits for the next event of type typ for container id,
// skipping events of other containers (subtests run in parallel).
func (c *contract) nextEvent(t *testing.T, evs <-chan container.Event, errs <-chan error, id string, typ container.EventType) container.Event {
	t.Helper()
	timeout := time.After(c.h.Timeout)
	for {
		select {
		case ev := <-evs:
			if ev.ID == id && ev.Type == typ {
				return ev
			}
		case err := <-errs:
			t.Fatalf("waiting for %s event of %s: event stream broke: %v", typ, id, err)
		case <-timeout:
			t.Fatalf("no %s event for %s within %s", typ, id, c.h.Timeout)
		}
	}
}

func (c *contract) events(t *testing.T) {
	ctx := c.ctx(t)
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errs := c.h.Runtime.Events(ectx)

	spec := c.fixture(t).spec(t, "events")
	id := c.create(ctx, t, spec)
	c.start(ctx, t, id)
	ev := c.nextEvent(t, evs, errs, id, container.EventStart)
	wantLabels(t, "start event", ev.Labels, spec.Labels)

	c.h.Kill(t, id)
	ev = c.nextEvent(t, evs, errs, id, container.EventDie)
	wantLabels(t, "die event", ev.Labels, spec.Labels)

	if err := c.h.Runtime.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	ev = c.nextEvent(t, evs, errs, id, container.EventDestroy)
	wantLabels(t, "destroy event", ev.Labels, spec.Labels)

	// Unmanaged containers produce no events: start one, then a managed
	// one; the managed start must come first in the stream with no event
	// of the unmanaged one before it.
	f := c.fixture(t)
	unmanaged := f.spec(t, "quiet")
	delete(unmanaged.Labels, container.LabelManaged)
	uid := c.create(ctx, t, unmanaged)
	c.start(ctx, t, uid)
	mid := c.create(ctx, t, f.spec(t, "loud"))
	c.start(ctx, t, mid)
	timeout := time.After(c.h.Timeout)
	for done := false; !done; {
		select {
		case ev := <-evs:
			if ev.ID == uid {
				t.Errorf("got %s event for unmanaged container %s", ev.Type, uid)
			}
			done = ev.ID == mid && ev.Type == container.EventStart
		case err := <-errs:
			t.Fatalf("event stream broke: %v", err)
		case <-timeout:
			t.Fatalf("no start event for %s within %s", mid, c.h.Timeout)
		}
	}

	cancel()
	select {
	case err := <-errs:
		if err == nil {
			t.Errorf("error channel after cancel: got nil, want an error")
		}
	case <-time.After(c.h.Timeout):
		t.Errorf("error channel: nothing within %s after cancel", c.h.Timeout)
	}
}

func (c *contract) killed(t *testing.T) {
	ctx := c.ctx(t)
	id := c.create(ctx, t, c.fixture(t).spec(t, "killed"))
	c.start(ctx, t, id)
	c.waitState(ctx, t, id, container.StateRunning)
	c.h.Kill(t, id)
	in := c.waitState(ctx, t, id, container.StateExited)
	if in.ExitCode == 0 {
		t.Errorf("Inspect of killed container: exit code 0, want non-zero")
	}
	got, ok := c.listed(ctx, t, id)
	if !ok {
		t.Fatalf("List does not show exited container %s", id)
	}
	if got.State != container.StateExited || got.ExitCode != in.ExitCode {
		t.Errorf("List of killed container: state %q exit code %d, want %q %d", got.State, got.ExitCode, container.StateExited, in.ExitCode)
	}
	if len(got.Ports) != 0 {
		t.Errorf("List of exited container: ports %v, want none", got.Ports)
	}
}

func (c *contract) unavailable(t *testing.T) {
	if c.h.Unavailable == nil {
		t.Skip("harness has no unavailable runtime")
	}
	rt := c.h.Unavailable(t)
	ctx := c.ctx(t)
	const limit = 5 * time.Second
	spec := c.fixture(t).spec(t, "unavailable")
	check := func(what string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		if d := time.Since(start); d > limit {
			t.Errorf("%s took %s, want at most %s", what, d, limit)
		}
		wantErr(t, what, err, container.ErrUnavailable)
	}
	check("Ping", func() error { return rt.Ping(ctx) })
	check("List", func() error { _, err := rt.List(ctx); return err })
	check("EnsureImage", func() error { return rt.EnsureImage(ctx, c.h.Image, nil) })
	check("Create", func() error { _, err := rt.Create(ctx, spec); return err })
	check("Start", func() error { return rt.Start(ctx, spec.Name) })
	check("Stop", func() error { return rt.Stop(ctx, spec.Name, time.Second) })
	check("Remove", func() error { return rt.Remove(ctx, spec.Name) })
	check("Inspect", func() error { _, err := rt.Inspect(ctx, spec.Name); return err })
	check("Logs", func() error { return rt.Logs(ctx, spec.Name, 0, false, &bytes.Buffer{}) })
	check("Events", func() error {
		_, errs := rt.Events(ctx)
		select {
		case err := <-errs:
			return err
		case <-time.After(limit):
			return errors.New("no error on the error channel")
		}
	})
}
