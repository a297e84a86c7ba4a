package agent_test

// The failure paths of the sync loop against the real Docker daemon (issue
// 4): what Docker does on its own (ports, images, kills, removals, an
// unreachable daemon) is exactly what the fake cannot prove.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

type dockerEnv struct {
	cli      *client.Client
	st       *state.Store
	s        *agent.Syncer
	instance string
}

// newDockerEnv returns a Syncer on the real daemon over a fresh state
// directory with its own instance id; every container of that instance is
// removed when the test ends.
func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	cli := testenv.Docker(t)
	ref := testenv.StubImage(t)
	instance := testenv.Instance(t)
	testenv.RemoveContainers(t, cli, instance)
	rt, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	st := newStore(t, instance)
	s := &agent.Syncer{
		Store:     st,
		Runtime:   rt,
		Instance:  instance,
		Prune:     true,
		Host:      agent.Host{GPUs: 0, Env: func(string) (string, bool) { return "", false }},
		StubImage: func(context.Context) (string, error) { return ref, nil },
	}
	return &dockerEnv{cli: cli, st: st, s: s, instance: instance}
}

// name makes an object name unique on the daemon: container names are
// global, and other tests (and other checkouts) run at the same time.
func (e *dockerEnv) name(base string) string {
	return base + "-" + strings.TrimPrefix(e.instance, "t-")
}

// ours lists every container labelled with the env's instance.
func (e *dockerEnv) ours(t *testing.T) []dcontainer.Summary {
	t.Helper()
	list, err := e.cli.ContainerList(context.Background(), dcontainer.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", container.LabelInstance+"="+e.instance)),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return list
}

// named lists the containers, of any instance or none, called name.
func (e *dockerEnv) named(t *testing.T, name string) []dcontainer.Summary {
	t.Helper()
	list, err := e.cli.ContainerList(context.Background(), dcontainer.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("name", name)),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	var out []dcontainer.Summary
	for _, c := range list {
		for _, n := range c.Names {
			if strings.TrimPrefix(n, "/") == name {
				out = append(out, c)
			}
		}
	}
	return out
}

// only returns the one container called name.
func (e *dockerEnv) only(t *testing.T, name string) dcontainer.Summary {
	t.Helper()
	cs := e.named(t, name)
	if len(cs) != 1 {
		t.Fatalf("want one container %s, have %d", name, len(cs))
	}
	return cs[0]
}

// waitExited waits until the container is no longer running.
func (e *dockerEnv) waitExited(t *testing.T, id string) {
	t.Helper()
	var last string
	ok := poll(15*time.Second, func() bool {
		c, err := e.cli.ContainerInspect(context.Background(), id)
		if err != nil {
			last = err.Error()
			return cerrdefs.IsNotFound(err)
		}
		last = c.State.Status
		return !c.State.Running
	})
	if !ok {
		t.Fatalf("container %.12s still %s after 15 s", id, last)
	}
}

// waitPortFree waits until nothing holds the host port.
func waitPortFree(t *testing.T, port int) {
	t.Helper()
	ok := poll(10*time.Second, func() bool {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	})
	if !ok {
		t.Errorf("host port %d still held 10 s after the last container went away", port)
	}
}

// holdPort listens on the port on all addresses, as a foreign process
// would, until the test ends or the returned func is called.
func holdPort(t *testing.T, port int) func() {
	t.Helper()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("hold port %d: %v", port, err)
	}
	t.Cleanup(func() { ln.Close() })
	return func() { ln.Close() }
}

func TestDockerStubServiceAnswers(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	port := testenv.FreePort(t)
	obj := addService(t, e.st, e.name("chat"), "tiny-chat", "stub", port, nil)

	res := pass(t, e.s)
	if len(res.Errors) > 0 {
		t.Fatalf("pass: %v", res.Errors)
	}
	st := waitStatus(t, e.s, obj, agent.StatusRunning, 20*time.Second)
	if st.Container != plan.ContainerName(e.instance, "service", obj.Name, 1) || st.Health != "ok" {
		t.Errorf("status = %+v", st)
	}

	body := `{"model":"tiny-chat","messages":[{"role":"user","content":"hello"}]}`
	resp, err := http.Post(st.Endpoint+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("chat completion: %s: %v", resp.Status, err)
	}
	if answer.Model != "tiny-chat" || len(answer.Choices) != 1 || answer.Choices[0].Message.Content != stub.Answer("tiny-chat", "hello") {
		t.Errorf("answer = %+v, want model tiny-chat answering %q", answer, stub.Answer("tiny-chat", "hello"))
	}
}

func TestDockerSelfHealsRemovedAndKilledContainer(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	obj := addService(t, e.st, e.name("heal"), "tiny", "stub", testenv.FreePort(t), nil)
	cname := plan.ContainerName(e.instance, "service", obj.Name, 1)
	ctx := context.Background()
	pass(t, e.s)
	waitStatus(t, e.s, obj, agent.StatusRunning, 20*time.Second)

	// docker rm -f
	first := e.only(t, cname)
	if err := e.cli.ContainerRemove(ctx, first.ID, dcontainer.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	res := pass(t, e.s)
	if ops := opsOf(res, obj); len(ops) != 1 || !strings.HasPrefix(ops[0], "create") || len(res.Errors) > 0 {
		t.Fatalf("pass after docker rm -f: ops %v, errors %v; want a create", ops, res.Errors)
	}
	waitStatus(t, e.s, obj, agent.StatusRunning, 20*time.Second)
	second := e.only(t, cname)
	if second.ID == first.ID {
		t.Fatalf("same container id after a remove")
	}

	// docker kill
	if err := e.cli.ContainerKill(ctx, second.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	e.waitExited(t, second.ID)
	res = pass(t, e.s)
	if ops := opsOf(res, obj); len(ops) != 1 || len(res.Errors) > 0 {
		t.Fatalf("pass after docker kill: ops %v, errors %v; want a start or recreate", ops, res.Errors)
	}
	st := waitStatus(t, e.s, obj, agent.StatusRunning, 20*time.Second)
	if st.Restarts < 1 {
		t.Errorf("restarts = %d after a kill and a restart", st.Restarts)
	}
	if cs := e.ours(t); len(cs) != 1 {
		t.Errorf("%d containers of the instance after self-healing, want 1", len(cs))
	}
}

func TestDockerForeignProcessOnPort(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	port := testenv.FreePort(t)
	holdPort(t, port)
	obj := addService(t, e.st, e.name("busy"), "tiny", "stub", port, nil)

	res := pass(t, e.s)
	err := res.Errors[obj]
	if err == nil {
		t.Fatalf("pass with port %d held: no error for %s (ops %v)", port, obj, opsOf(res, obj))
	}
	want := []string{strconv.Itoa(port)}
	if _, perr := os.Readlink("/proc/self/fd/0"); perr == nil {
		want = append(want, fmt.Sprintf("process %d", os.Getpid()))
	}
	if !containsAll(err.Error(), want...) {
		t.Errorf("error = %q, want it to name %q", err, want)
	}
	// Failed at once, not after retries.
	st := statusOf(t, e.s, obj)
	if st.Status != agent.StatusFailed || !containsAll(st.Reason, want...) {
		t.Errorf("status = %q (%s), want failed naming %q", st.Status, st.Reason, want)
	}
	if cs := e.named(t, plan.ContainerName(e.instance, "service", obj.Name, 1)); len(cs) != 0 {
		t.Errorf("a failed start left %d containers behind: %+v", len(cs), cs)
	}
}

func TestDockerMissingImage(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	const image = "aima-test/absent:1"
	eng := &state.Engine{Name: "absent", Image: image, GPU: "none", Port: 8000}
	if _, err := e.st.Create(state.KindEngine, eng); err != nil {
		t.Fatal(err)
	}
	obj := addService(t, e.st, e.name("noimage"), "tiny", "absent", testenv.FreePort(t), nil)

	// A pull that cannot succeed must fail within bounded time, not hang
	// the pass: allow 30 s, then report.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	res, err := e.s.Pass(ctx)
	took := time.Since(start)
	t.Logf("pass with an absent image took %s", took)
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("pulling %s did not fail within 30 s: the executor should bound the pull", image)
	}
	perr := res.Errors[obj]
	if perr == nil || !strings.Contains(perr.Error(), image) {
		t.Fatalf("error = %v, want one naming %s", perr, image)
	}
	st := statusOf(t, e.s, obj)
	if st.Status != agent.StatusFailed || !strings.Contains(st.Reason, image) {
		t.Errorf("status = %q (%s), want failed naming %s", st.Status, st.Reason, image)
	}
	if cs := e.named(t, plan.ContainerName(e.instance, "service", obj.Name, 1)); len(cs) != 0 {
		t.Errorf("a failed pull left %d containers behind", len(cs))
	}
	// Retried with backoff: an immediate pass does not pull again.
	if next, ok := e.s.NextRetry(); !ok || !next.After(time.Now()) {
		t.Errorf("NextRetry = %v, %v; want a retry in the future", next, ok)
	}
	if res := pass(t, e.s); !held(res, obj) {
		t.Errorf("pass within the backoff did not hold %s: ops %v", obj, opsOf(res, obj))
	}
}

func TestDockerUnreachable(t *testing.T) {
	t.Parallel()
	st := newStore(t, testenv.Instance(t))
	obj := addService(t, st, "chat", "tiny", "stub", 18080, nil)
	rt, err := docker.New(client.WithHost("tcp://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := &agent.Syncer{Store: st, Runtime: rt, Instance: "t-unreachable", Prune: true}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = s.Pass(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("pass took %s to notice that Docker is unreachable, want < 5 s", took)
	}
	if !errors.Is(err, container.ErrUnavailable) {
		t.Fatalf("pass: %v, want container.ErrUnavailable", err)
	}
	start = time.Now()
	sts, err := s.Statuses(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("statuses took %s with Docker unreachable, want < 5 s", took)
	}
	if err != nil {
		t.Fatalf("statuses: %v", err)
	}
	if sts[obj].Status != agent.StatusUnknown {
		t.Errorf("status = %+v, want unknown", sts[obj])
	}
}

// TestDockerStartFailCyclesLeakNothing: a service whose port is held, then
// released, then held again, three times over; afterwards no container of
// the instance and no host port is left.
func TestDockerStartFailCyclesLeakNothing(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	port := testenv.FreePort(t)
	obj := addService(t, e.st, e.name("cycle"), "tiny", "stub", port, nil)

	for i := range 3 {
		release := holdPort(t, port)
		res := pass(t, e.s)
		if res.Errors[obj] == nil {
			t.Fatalf("cycle %d: pass with the port held did not fail", i)
		}
		if cs := e.ours(t); len(cs) != 0 {
			t.Fatalf("cycle %d: failed start left %d containers", i, len(cs))
		}
		release()
		// A new spec is retried at once, whatever the backoff.
		updateService(t, e.st, obj.Name, func(s *state.Service) { s.Env = map[string]string{"CYCLE": strconv.Itoa(i)} })
		if res := pass(t, e.s); len(res.Errors) > 0 {
			t.Fatalf("cycle %d: pass with the port free: %v", i, res.Errors)
		}
		waitStatus(t, e.s, obj, agent.StatusRunning, 20*time.Second)
		setState(t, e.st, obj.Name, "stopped")
		if res := pass(t, e.s); len(res.Errors) > 0 {
			t.Fatalf("cycle %d: stop: %v", i, res.Errors)
		}
		if cs := e.ours(t); len(cs) != 0 {
			t.Fatalf("cycle %d: %d containers after stop", i, len(cs))
		}
		setState(t, e.st, obj.Name, "running")
	}
	setState(t, e.st, obj.Name, "stopped")
	pass(t, e.s)
	if cs := e.ours(t); len(cs) != 0 {
		t.Errorf("%d containers leaked", len(cs))
	}
	waitPortFree(t, port)
}

// TestDockerStopInEveryState: service stop converges from running, failed
// (port held), crash-looping, and with the container removed by hand.
func TestDockerStopInEveryState(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	heldPort := testenv.FreePort(t)
	running := addService(t, e.st, e.name("run"), "tiny", "stub", testenv.FreePort(t), nil)
	failed := addService(t, e.st, e.name("held"), "tiny", "stub", heldPort, nil)
	looping := addService(t, e.st, e.name("loop"), "tiny", "stub", testenv.FreePort(t), map[string]string{stub.EnvFail: "1"})
	removed := addService(t, e.st, e.name("gone"), "tiny", "stub", testenv.FreePort(t), nil)
	holdPort(t, heldPort)

	var sts map[agent.Object]agent.Status
	ok := poll(40*time.Second, func() bool {
		pass(t, e.s)
		var err error
		if sts, err = e.s.Statuses(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sts[running].Status == agent.StatusRunning &&
			sts[removed].Status == agent.StatusRunning &&
			sts[failed].Status == agent.StatusFailed &&
			sts[looping].Status == agent.StatusFailed && strings.Contains(sts[looping].Reason, "crash loop")
	})
	if !ok {
		t.Fatalf("did not reach running/failed/crash loop/running in 40 s: %+v", sts)
	}
	gone := e.only(t, plan.ContainerName(e.instance, "service", removed.Name, 1))
	if err := e.cli.ContainerRemove(context.Background(), gone.ID, dcontainer.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}

	for _, obj := range []agent.Object{running, failed, looping, removed} {
		setState(t, e.st, obj.Name, "stopped")
	}
	res := pass(t, e.s)
	if len(res.Errors) > 0 {
		t.Errorf("stop pass: %v", res.Errors)
	}
	for _, obj := range []agent.Object{running, failed, looping, removed} {
		if st := statusOf(t, e.s, obj); st.Status != agent.StatusStopped || st.Container != "" {
			t.Errorf("%s after stop: %+v, want stopped without a container", obj, st)
		}
	}
	if cs := e.ours(t); len(cs) != 0 {
		t.Errorf("%d containers left after stopping everything", len(cs))
	}
	if res := pass(t, e.s); !res.Plan.Empty() {
		t.Errorf("pass after stop still plans:\n%s", res.Plan)
	}
}

func TestDockerCrashLoop(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	obj := addService(t, e.st, e.name("crash"), "tiny", "stub", testenv.FreePort(t), map[string]string{stub.EnvFail: "1"})

	var st agent.Status
	ok := poll(30*time.Second, func() bool {
		pass(t, e.s)
		st = statusOf(t, e.s, obj)
		return st.Status == agent.StatusFailed && strings.Contains(st.Reason, "crash loop")
	})
	if !ok {
		t.Fatalf("no crash loop reported within 30 s: %+v", st)
	}
	if st.Restarts < 1 {
		t.Errorf("restarts = %d in a crash loop", st.Restarts)
	}
	if !strings.Contains(st.Reason, "exit code 1") {
		t.Errorf("reason = %q, want the exit code", st.Reason)
	}
	if cs := e.ours(t); len(cs) != 1 {
		t.Errorf("%d containers in a crash loop, want 1 (restarted, not multiplied)", len(cs))
	}
}

func TestDockerSpecHashStable(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	obj := addService(t, e.st, e.name("stable"), "tiny", "stub", testenv.FreePort(t), map[string]string{"A": "1"})
	pass(t, e.s)
	before := e.only(t, plan.ContainerName(e.instance, "service", obj.Name, 1))

	if res := pass(t, e.s); !res.Plan.Empty() {
		t.Errorf("second pass planned:\n%s", res.Plan)
	}
	// Another commit that does not touch the service: a new revision alone
	// recreates nothing.
	addModel(t, e.st, &state.Model{Name: "unrelated"})
	if res := planOf(t, e.s); !res.Plan.Empty() {
		t.Errorf("plan after an unrelated commit:\n%s", res.Plan)
	}
	if res := pass(t, e.s); !res.Plan.Empty() {
		t.Errorf("pass after an unrelated commit planned:\n%s", res.Plan)
	}
	after := e.only(t, plan.ContainerName(e.instance, "service", obj.Name, 1))
	if after.ID != before.ID || after.Labels[container.LabelSpecHash] != before.Labels[container.LabelSpecHash] {
		t.Errorf("container %.12s (%s) became %.12s (%s)", before.ID, before.Labels[container.LabelSpecHash], after.ID, after.Labels[container.LabelSpecHash])
	}
}

func TestDockerLogsOwnContainer(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	a := addService(t, e.st, e.name("alpha"), "model-alpha", "stub", testenv.FreePort(t), nil)
	b := addService(t, e.st, e.name("beta"), "model-beta", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	waitStatus(t, e.s, a, agent.StatusRunning, 20*time.Second)
	waitStatus(t, e.s, b, agent.StatusRunning, 20*time.Second)

	for obj, models := range map[agent.Object][2]string{a: {"model-alpha", "model-beta"}, b: {"model-beta", "model-alpha"}} {
		var out strings.Builder
		if err := e.s.Logs(context.Background(), obj, 0, false, &out); err != nil {
			t.Fatalf("logs %s: %v", obj, err)
		}
		if !strings.Contains(out.String(), fmt.Sprintf("serving model %q", models[0])) || strings.Contains(out.String(), models[1]) {
			t.Errorf("logs of %s = %q, want its own model %s and not %s", obj, out.String(), models[0], models[1])
		}
	}
}

// TestDockerForeignProcessTakesPortOfExitedContainer: the container exits,
// a foreign process binds its port, and the next pass (a start, not a
// create) fails at once naming the port and the holder, leaving no
// container behind.
func TestDockerForeignProcessTakesPortOfExitedContainer(t *testing.T) {
	t.Parallel()
	e := newDockerEnv(t)
	port := testenv.FreePort(t)
	obj := addService(t, e.st, e.name("taken"), "tiny", "stub", port, nil)
	pass(t, e.s)
	c := e.only(t, plan.ContainerName(e.instance, "service", obj.Name, 1))
	if err := e.cli.ContainerStop(context.Background(), c.ID, dcontainer.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitExited(t, c.ID)
	var release func()
	if !poll(10*time.Second, func() bool {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			return false
		}
		release = func() { ln.Close() }
		return true
	}) {
		t.Fatalf("port %d not released by the stopped container", port)
	}
	defer release()

	res := pass(t, e.s)
	err := res.Errors[obj]
	want := []string{strconv.Itoa(port)}
	if _, perr := os.Readlink("/proc/self/fd/0"); perr == nil {
		want = append(want, fmt.Sprintf("process %d", os.Getpid()))
	}
	if err == nil || !containsAll(err.Error(), want...) {
		t.Errorf("ops %v, error %v; want a failure naming %q", opsOf(res, obj), err, want)
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusFailed || !containsAll(st.Reason, want...) {
		t.Errorf("status = %q (%s), want failed naming %q", st.Status, st.Reason, want)
	}
	if cs := e.named(t, plan.ContainerName(e.instance, "service", obj.Name, 1)); len(cs) != 0 {
		t.Errorf("a failed start left %d containers behind", len(cs))
	}
}
