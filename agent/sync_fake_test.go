package agent_test

// Tests of the sync machinery (render → observe → plan → execute, and the
// status derived afterwards) on the in-memory runtime: what a pass does,
// not how Docker does it. The same failure paths against the real daemon
// are in sync_docker_test.go.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/container/fake"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// fakeStubTag is what the stub engine image "builds" to in these tests.
const fakeStubTag = "aima-stub:fake"

type fakeEnv struct {
	st       *state.Store
	rt       *fake.Runtime
	s        *agent.Syncer
	instance string
}

func writePolicy(t *testing.T, st *state.Store, policy string) {
	t.Helper()
	if err := state.WriteFile(filepath.Join(st.Dir, filepath.FromSlash(state.PolicyPath)), []byte(policy)); err != nil {
		t.Fatal(err)
	}
}

// newFakeEnv returns a Syncer over a fresh state directory and an empty
// in-memory runtime that has only the stub image. The host has no GPU and
// an empty environment.
func newFakeEnv(t *testing.T) *fakeEnv {
	t.Helper()
	st := newStore(t, testenv.Instance(t))
	// The policy lets the render-failure tests reach the failures they
	// test (a variable not set, a model path missing).
	writePolicy(t, st, "env: [AIMA_TEST_MISSING]\nhost_paths: [/nonexistent/aima-test]\n")
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	rt := fake.New()
	rt.AddImage(fakeStubTag, "aima-stub: started\n")
	s := &agent.Syncer{
		Store:     st,
		Runtime:   rt,
		Instance:  set.Instance,
		Prune:     true,
		Host:      agent.Host{GPUs: 0, Env: func(string) (string, bool) { return "", false }},
		StubImage: func(context.Context) (string, error) { return fakeStubTag, nil },
	}
	return &fakeEnv{st: st, rt: rt, s: s, instance: set.Instance}
}

// ours lists the containers labelled with the env's instance.
func (e *fakeEnv) ours(t *testing.T) []container.Container {
	t.Helper()
	list, err := e.rt.List(context.Background())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var out []container.Container
	for _, c := range list {
		if c.Labels[container.LabelInstance] == e.instance {
			out = append(out, c)
		}
	}
	return out
}

// only returns the one container of ours, failing the test when there is
// not exactly one.
func (e *fakeEnv) only(t *testing.T) container.Container {
	t.Helper()
	cs := e.ours(t)
	if len(cs) != 1 {
		t.Fatalf("want exactly one container of instance %s, have %d: %+v", e.instance, len(cs), cs)
	}
	return cs[0]
}

func (e *fakeEnv) head(t *testing.T) string {
	t.Helper()
	r, err := e.st.Repo()
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPassCreatesLabelledContainerThenNothing(t *testing.T) {
	e := newFakeEnv(t)
	port := testenv.FreePort(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", port, nil)

	res := pass(t, e.s)
	if diff := cmp.Diff([]string{"create (no container)"}, opsOf(res, obj)); diff != "" {
		t.Fatalf("first pass ops (-want +got):\n%s", diff)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("first pass errors: %v", res.Errors)
	}
	c := e.only(t)
	if c.State != container.StateRunning || c.Name != "aima-chat" || c.Image != fakeStubTag {
		t.Errorf("container = %s %s %s, want aima-chat running from %s", c.Name, c.State, c.Image, fakeStubTag)
	}
	wantLabels := map[string]string{
		container.LabelManaged:  "true",
		container.LabelInstance: e.instance,
		container.LabelKind:     "service",
		container.LabelName:     "chat",
		container.LabelEngine:   "stub",
		container.LabelModel:    "tiny",
		container.LabelRevision: e.head(t),
	}
	for k, want := range wantLabels {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if h := c.Labels[container.LabelSpecHash]; !strings.HasPrefix(h, "v1-") {
		t.Errorf("label %s = %q, want a v1 hash", container.LabelSpecHash, h)
	}
	spec, err := e.rt.Spec(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"--addr", ":8000", "--model", "tiny"}, spec.Cmd); diff != "" {
		t.Errorf("cmd (-want +got):\n%s", diff)
	}
	// Published on 127.0.0.1 only: no host_ip in the file or in aima.yaml.
	if diff := cmp.Diff([]container.Port{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 8000}}, spec.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}

	res = pass(t, e.s)
	if !res.Plan.Empty() {
		t.Errorf("second pass planned:\n%s", res.Plan)
	}
	if p := planOf(t, e.s); !p.Plan.Empty() {
		t.Errorf("diff after two passes:\n%s", p.Plan)
	}
	if got := e.only(t).ID; got != c.ID {
		t.Errorf("container replaced (%s → %s) by a pass with nothing to do", c.ID, got)
	}
}

func TestPassEnvChangeRecreatesNamingTheKey(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), map[string]string{"KEEP": "1"})
	pass(t, e.s)
	old := e.only(t)

	updateService(t, e.st, "chat", func(s *state.Service) { s.Env["FOO"] = "bar" })
	diff := planOf(t, e.s)
	if d := cmp.Diff([]string{"recreate (spec changed: env:FOO)"}, opsOf(diff, obj)); d != "" {
		t.Fatalf("plan after adding env FOO (-want +got):\n%s", d)
	}
	if got := diff.Plan.Ops[0].Changed; !cmp.Equal(got, []string{"env:FOO"}) {
		t.Errorf("changed = %v, want [env:FOO]", got)
	}

	res := pass(t, e.s)
	if len(res.Errors) > 0 {
		t.Fatalf("recreate: %v", res.Errors)
	}
	c := e.only(t)
	if c.ID == old.ID || c.State != container.StateRunning {
		t.Fatalf("after recreate: container %s %s, old was %s", c.ID, c.State, old.ID)
	}
	spec, err := e.rt.Spec(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"FOO=bar", "KEEP=1"}, spec.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}

	// A changed value (not only a new key) is named too, and its value
	// never appears in the cause.
	updateService(t, e.st, "chat", func(s *state.Service) { s.Env["FOO"] = "s3cret" })
	got := opsOf(planOf(t, e.s), obj)
	if d := cmp.Diff([]string{"recreate (spec changed: env:FOO)"}, got); d != "" {
		t.Errorf("plan after changing FOO (-want +got):\n%s", d)
	}
	if res := pass(t, e.s); len(res.Errors) > 0 {
		t.Errorf("second recreate: %v", res.Errors)
	}
	if p := planOf(t, e.s); !p.Plan.Empty() {
		t.Errorf("not converged after the second recreate:\n%s", p.Plan)
	}
}

func TestPassStoppedRemovesAndStartCreates(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	e.only(t)

	setState(t, e.st, "chat", "stopped")
	res := pass(t, e.s)
	if d := cmp.Diff([]string{"remove (state: stopped)"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops after stop (-want +got):\n%s", d)
	}
	if cs := e.ours(t); len(cs) != 0 {
		t.Errorf("containers after stop: %+v", cs)
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusStopped {
		t.Errorf("status after stop = %+v", st)
	}
	if !pass(t, e.s).Plan.Empty() {
		t.Errorf("a stopped service without a container still plans something")
	}

	setState(t, e.st, "chat", "running")
	res = pass(t, e.s)
	if d := cmp.Diff([]string{"create (no container)"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops after start (-want +got):\n%s", d)
	}
	if c := e.only(t); c.State != container.StateRunning {
		t.Errorf("after start: %s", c.State)
	}
}

func TestPassDeletedFileRemovesContainer(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	e.only(t)

	if err := e.st.Delete(state.KindService, "chat", ""); err != nil {
		t.Fatal(err)
	}
	res := pass(t, e.s)
	if d := cmp.Diff([]string{"remove (no file for service/chat)"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops after delete (-want +got):\n%s", d)
	}
	if cs := e.ours(t); len(cs) != 0 {
		t.Errorf("containers after delete: %+v", cs)
	}
	sts, err := e.s.Statuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := sts[obj]; ok {
		t.Errorf("deleted service still has a status: %+v", st)
	}
}

// runForeign creates and starts a container the files know nothing about.
func runForeign(t *testing.T, rt *fake.Runtime, name, instance, objName string, port int) string {
	t.Helper()
	ctx := context.Background()
	spec := container.Spec{
		Name:  name,
		Image: fakeStubTag,
		Labels: map[string]string{
			container.LabelManaged:  "true",
			container.LabelInstance: instance,
			container.LabelKind:     "service",
			container.LabelName:     objName,
		},
	}
	if port != 0 {
		spec.Ports = []container.Port{{HostPort: port, ContainerPort: 8000}}
	}
	id, err := rt.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPassRemovesOrphanOfOurInstance(t *testing.T) {
	e := newFakeEnv(t)
	ghost := runForeign(t, e.rt, "aima-ghost", e.instance, "ghost", 0)

	res := pass(t, e.s)
	if d := cmp.Diff([]string{"remove (no file for service/ghost)"}, opsOf(res, agent.Object{Kind: "service", Name: "ghost"})); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
	if _, err := e.rt.Inspect(context.Background(), ghost); !errors.Is(err, container.ErrNotFound) {
		t.Errorf("orphan of our instance still there (inspect: %v)", err)
	}
}

func TestPassLeavesOtherInstanceAlone(t *testing.T) {
	e := newFakeEnv(t)
	other := runForeign(t, e.rt, "aima-chat-elsewhere", "other-instance", "chat", 0)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)

	res := pass(t, e.s)
	if d := cmp.Diff([]string{"create (no container)"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
	for _, op := range res.Plan.Ops {
		if op.ID == other {
			t.Errorf("planned %s on another instance's container", op)
		}
	}
	c, err := e.rt.Inspect(context.Background(), other)
	if err != nil || c.State != container.StateRunning {
		t.Fatalf("other instance's container: %v %v, want untouched and running", c.State, err)
	}
	diff := planOf(t, e.s)
	if len(diff.Plan.Unmanaged) != 1 || diff.Plan.Unmanaged[0].ID != other {
		t.Errorf("unmanaged = %+v, want the other instance's container", diff.Plan.Unmanaged)
	}
	if want := `! service/chat unmanaged: container aima-chat-elsewhere of instance "other-instance" (running)`; !strings.Contains(diff.Plan.String(), want) {
		t.Errorf("diff does not list the unmanaged container:\n%s", diff.Plan)
	}
	if !diff.Plan.Empty() {
		t.Errorf("an unmanaged container makes the plan non-empty:\n%s", diff.Plan)
	}
}

// TestPassPortHeldByOtherInstance: a container of another instance on the
// service's port is never touched, and the service's status names it
// (spec, section 3).
func TestPassPortHeldByOtherInstance(t *testing.T) {
	e := newFakeEnv(t)
	port := testenv.FreePort(t)
	other := runForeign(t, e.rt, "aima-squatter", "other-instance", "squatter", port)
	obj := addService(t, e.st, "chat", "tiny", "stub", port, nil)

	res := pass(t, e.s)
	if ops := opsOf(res, obj); len(ops) != 0 {
		t.Errorf("planned %v for a service whose port another instance holds", ops)
	}
	if cs := e.ours(t); len(cs) != 0 {
		t.Errorf("created %+v", cs)
	}
	if c, err := e.rt.Inspect(context.Background(), other); err != nil || c.State != container.StateRunning {
		t.Errorf("the other instance's container: %v %v", c.State, err)
	}
	st := statusOf(t, e.s, obj)
	if st.Status != agent.StatusFailed || !containsAll(st.Reason, strconv.Itoa(port), "aima-squatter") {
		t.Errorf("status = %q (%s), want failed naming port %d and aima-squatter", st.Status, st.Reason, port)
	}
}

func TestPassRestartsExitedContainer(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	c := e.only(t)

	if err := e.rt.Kill(c.ID, 2); err != nil {
		t.Fatal(err)
	}
	res := pass(t, e.s)
	if d := cmp.Diff([]string{"start (container exited (code 2))"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops after kill (-want +got):\n%s", d)
	}
	after := e.only(t)
	if after.ID != c.ID || after.State != container.StateRunning {
		t.Errorf("after restart: %s %s, want %s running", after.ID, after.State, c.ID)
	}
	if st := statusOf(t, e.s, obj); st.Restarts != 1 || st.Status == agent.StatusFailed {
		t.Errorf("status after one restart = %+v, want 1 restart, not failed", st)
	}
}

func TestPassCrashLoopBacksOff(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	id := e.only(t).ID

	// Two crashes, two restarts: the second makes it a crash loop.
	for i := 1; i <= 2; i++ {
		if err := e.rt.Kill(id, 1); err != nil {
			t.Fatal(err)
		}
		if ops := opsOf(pass(t, e.s), obj); len(ops) != 1 || !strings.HasPrefix(ops[0], "start") {
			t.Fatalf("pass after crash %d: ops %v, want a start", i, ops)
		}
	}
	next, ok := e.s.NextRetry()
	if !ok || !next.After(time.Now()) {
		t.Fatalf("NextRetry = %v, %v after a crash loop; want a time in the future", next, ok)
	}

	// It crashes again at once: the next pass does not restart it before
	// the backoff.
	if err := e.rt.Kill(id, 1); err != nil {
		t.Fatal(err)
	}
	res := pass(t, e.s)
	if ops := opsOf(res, obj); len(ops) != 0 {
		t.Errorf("restarted within the backoff: %v", ops)
	}
	if time.Now().Before(next) && !held(res, obj) {
		t.Errorf("pass within the backoff did not hold %s (held: %v)", obj, res.Plan.Held)
	}
	if c, _ := e.rt.Inspect(context.Background(), id); c.State != container.StateExited {
		t.Errorf("container is %s within the backoff, want exited", c.State)
	}
	st := statusOf(t, e.s, obj)
	if st.Status != agent.StatusFailed || !strings.Contains(st.Reason, "crash loop") || st.Restarts != 2 {
		t.Errorf("status = %+v, want failed, crash loop, 2 restarts", st)
	}

	// Once the backoff has passed, it is restarted again.
	restarted := poll(5*time.Second, func() bool {
		if time.Now().Before(next) {
			return false
		}
		pass(t, e.s)
		c, err := e.rt.Inspect(context.Background(), id)
		return err == nil && c.State == container.StateRunning
	})
	if !restarted {
		t.Fatalf("not restarted within 5 s of the backoff ending (%s)", time.Until(next))
	}
	if st := statusOf(t, e.s, obj); st.Restarts != 3 {
		t.Errorf("restarts = %d after the third restart", st.Restarts)
	}
	if later, ok := e.s.NextRetry(); !ok || !later.After(next) {
		t.Errorf("NextRetry = %v after another crash-loop restart; want later than %v (growing backoff)", later, next)
	}
}

func TestPassRenderFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, st *state.Store, port int)
		reason []string
	}{{
		name: "model file missing",
		setup: func(t *testing.T, st *state.Store, port int) {
			addModel(t, st, &state.Model{Name: "gone", Source: "local", Path: "/nonexistent/aima-test/gone.gguf"})
			addService(t, st, "chat", "gone", "stub", port, nil)
		},
		reason: []string{"/nonexistent/aima-test/gone.gguf"},
	}, {
		name: "gpu required without a gpu",
		setup: func(t *testing.T, st *state.Store, port int) {
			if _, err := st.Create(state.KindEngine, &state.Engine{Name: "bigiron", Image: "aima-test/bigiron:1", GPU: "required", Port: 8000}); err != nil {
				t.Fatal(err)
			}
			addService(t, st, "chat", "tiny", "bigiron", port, nil)
		},
		reason: []string{"bigiron", "requires a GPU and none was detected"},
	}, {
		name: "env variable not set",
		setup: func(t *testing.T, st *state.Store, port int) {
			addService(t, st, "chat", "tiny", "stub", port, map[string]string{"TOKEN": "${env:AIMA_TEST_MISSING}"})
		},
		reason: []string{"TOKEN", "AIMA_TEST_MISSING"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEnv(t)
			obj := agent.Object{Kind: "service", Name: "chat"}
			tc.setup(t, e.st, testenv.FreePort(t))
			for i := range 2 { // terminal: the second pass changes nothing
				res := pass(t, e.s)
				if ops := opsOf(res, obj); len(ops) != 0 {
					t.Errorf("pass %d planned %v", i+1, ops)
				}
				if !held(res, obj) {
					t.Errorf("pass %d did not hold %s", i+1, obj)
				}
			}
			if cs := e.ours(t); len(cs) != 0 {
				t.Errorf("containers: %+v", cs)
			}
			st := statusOf(t, e.s, obj)
			if st.Status != agent.StatusFailed || !containsAll(st.Reason, tc.reason...) {
				t.Errorf("status = %q (%s), want failed mentioning %q", st.Status, st.Reason, tc.reason)
			}
		})
	}
}

// TestPassRenderFailureClearsWhenFileChanges: terminal until the files
// change, then retried at once.
func TestPassRenderFailureClearsWhenFileChanges(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), map[string]string{"TOKEN": "${env:AIMA_TEST_MISSING}"})
	pass(t, e.s)
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusFailed {
		t.Fatalf("status = %+v, want failed", st)
	}
	updateService(t, e.st, "chat", func(s *state.Service) { s.Env["TOKEN"] = "literal" })
	res := pass(t, e.s)
	if d := cmp.Diff([]string{"create (no container)"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops after fixing the file (-want +got):\n%s", d)
	}
	if st := statusOf(t, e.s, obj); st.Status == agent.StatusFailed {
		t.Errorf("still failed after the file was fixed: %+v", st)
	}
}

func TestPassDockerUnavailable(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	e.rt.SetUnavailable(true)

	if _, err := e.s.Pass(context.Background()); !errors.Is(err, container.ErrUnavailable) {
		t.Fatalf("pass with Docker down: %v, want container.ErrUnavailable", err)
	}
	if _, err := e.s.Plan(context.Background()); !errors.Is(err, container.ErrUnavailable) {
		t.Errorf("plan with Docker down: %v, want container.ErrUnavailable", err)
	}
	sts, err := e.s.Statuses(context.Background())
	if err != nil {
		t.Fatalf("statuses with Docker down: %v (want statuses saying unknown)", err)
	}
	if st := sts[obj]; st.Status != agent.StatusUnknown || st.Reason == "" {
		t.Errorf("status with Docker down = %+v, want unknown with a reason", st)
	}

	// Docker comes back: the next pass converges, with no backoff left
	// over from the outage.
	e.rt.SetUnavailable(false)
	res := pass(t, e.s)
	if d := cmp.Diff([]string{"create (no container)"}, opsOf(res, obj)); d != "" {
		t.Errorf("ops once Docker is back (-want +got):\n%s", d)
	}
}

func TestStatusMapping(t *testing.T) {
	e := newFakeEnv(t)
	port := testenv.FreePort(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", port, nil)
	ctx := context.Background()

	if st := statusOf(t, e.s, obj); st.Status != agent.StatusPending {
		t.Errorf("before any pass: %+v, want pending", st)
	}

	// created (not started) → starting
	id, err := e.rt.Create(ctx, container.Spec{
		Name:  "aima-chat",
		Image: fakeStubTag,
		Labels: plan.Labels(plan.Desired{Kind: "service", Name: "chat",
			Spec: container.Spec{Image: "aima-stub"}}, e.instance),
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusStarting || st.Container != "aima-chat" {
		t.Errorf("created container: %+v, want starting", st)
	}
	if err := e.rt.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}

	pass(t, e.s)
	c := e.only(t)
	// running, nothing answering the health check yet → starting
	st := statusOf(t, e.s, obj)
	if st.Status != agent.StatusStarting || !strings.HasPrefix(st.Health, "failing") || st.Drift {
		t.Errorf("running, health failing: %+v, want starting, health failing, no drift", st)
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(port); st.Endpoint != want {
		t.Errorf("endpoint = %q, want %q", st.Endpoint, want)
	}

	// running and healthy → running (the test plays the engine on the port)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusRunning || st.Health != "ok" {
		t.Errorf("running and healthy: %+v, want running", st)
	}

	// exited → failed with the exit code
	if err := e.rt.Kill(c.ID, 3); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusFailed || !strings.Contains(st.Reason, "code 3") {
		t.Errorf("exited container: %+v, want failed with exit code 3", st)
	}
}

func TestLogsOnlyOwnContainer(t *testing.T) {
	e := newFakeEnv(t)
	a := addService(t, e.st, "alpha", "model-a", "stub", testenv.FreePort(t), nil)
	b := addService(t, e.st, "beta", "model-b", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	for _, c := range e.ours(t) {
		if err := e.rt.AppendLog(c.ID, "I am "+c.Labels[container.LabelName]+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	for obj, want := range map[agent.Object][2]string{a: {"I am alpha", "I am beta"}, b: {"I am beta", "I am alpha"}} {
		var out strings.Builder
		if err := e.s.Logs(context.Background(), obj, 0, false, &out); err != nil {
			t.Fatalf("logs %s: %v", obj, err)
		}
		if !strings.Contains(out.String(), want[0]) || strings.Contains(out.String(), want[1]) {
			t.Errorf("logs of %s = %q, want %q and not %q", obj, out.String(), want[0], want[1])
		}
	}
	err := e.s.Logs(context.Background(), agent.Object{Kind: "service", Name: "nope"}, 0, false, &strings.Builder{})
	if !errors.Is(err, state.ErrNotFound) {
		t.Errorf("logs of a missing service: %v, want not found", err)
	}
}

// TestPassRenderFailureForgottenWhenFileReverted: a file that stops
// rendering leaves the running container alone and reports failed; once
// the file renders again, the failure is forgotten, so a later crash is
// restarted at once and not reported with the stale reason.
func TestPassRenderFailureForgottenWhenFileReverted(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), map[string]string{"TOKEN": "literal"})
	pass(t, e.s)
	id := e.only(t).ID

	updateService(t, e.st, "chat", func(s *state.Service) { s.Env["TOKEN"] = "${env:AIMA_TEST_MISSING}" })
	res := pass(t, e.s)
	if ops := opsOf(res, obj); len(ops) != 0 {
		t.Errorf("an unrenderable file planned %v; the last valid container stays", ops)
	}
	if c := e.only(t); c.ID != id || c.State != container.StateRunning {
		t.Errorf("container %s %s, want %s still running", c.ID, c.State, id)
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusFailed || !strings.Contains(st.Reason, "AIMA_TEST_MISSING") {
		t.Errorf("status with the broken file = %+v", st)
	}

	updateService(t, e.st, "chat", func(s *state.Service) { s.Env["TOKEN"] = "literal" })
	if res := pass(t, e.s); !res.Plan.Empty() {
		t.Errorf("plan after reverting the file:\n%s", res.Plan)
	}
	if err := e.rt.Kill(id, 1); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, e.s, obj); strings.Contains(st.Reason, "AIMA_TEST_MISSING") {
		t.Errorf("status after the file was fixed still gives the old reason: %+v", st)
	}
	res = pass(t, e.s)
	if d := cmp.Diff([]string{"start (container exited (code 1))"}, opsOf(res, obj)); d != "" || held(res, obj) {
		t.Errorf("first crash after the fix: ops (-want +got):\n%s held: %v", d, res.Plan.Held)
	}
	if _, ok := e.s.NextRetry(); ok {
		t.Errorf("NextRetry still set after the file was fixed")
	}
}

// TestPassAlternativeImages: when the engine's image cannot be had, the
// first alternative that can is used, without a recreate on the next pass;
// when none can, the service fails naming every image tried.
func TestPassAlternativeImages(t *testing.T) {
	e := newFakeEnv(t)
	e.rt.AddImage("mirror.local/eng:1", "eng: started\n")
	if _, err := e.st.Create(state.KindEngine, &state.Engine{Name: "eng", Image: "registry.invalid/eng:1",
		AlternativeImages: []string{"registry.invalid/eng:0", "mirror.local/eng:1"}, Port: 8000, GPU: "none"}); err != nil {
		t.Fatal(err)
	}
	obj := addService(t, e.st, "chat", "tiny", "eng", testenv.FreePort(t), nil)
	res := pass(t, e.s)
	if err := res.Errors[obj]; err != nil {
		t.Fatalf("pass with a present alternative failed: %v", err)
	}
	if c := e.only(t); c.Image != "mirror.local/eng:1" || c.State != container.StateRunning {
		t.Errorf("container %s from %s (%s), want running from the alternative mirror.local/eng:1", c.Name, c.Image, c.State)
	}
	if res := pass(t, e.s); !res.Plan.Empty() {
		t.Errorf("a container from an alternative image is recreated:\n%s", res.Plan)
	}

	if _, err := e.st.Create(state.KindEngine, &state.Engine{Name: "none-here", Image: "registry.invalid/a:1",
		AlternativeImages: []string{"registry.invalid/b:1"}, Port: 8000, GPU: "none"}); err != nil {
		t.Fatal(err)
	}
	bad := addService(t, e.st, "other", "tiny2", "none-here", testenv.FreePort(t), nil)
	res = pass(t, e.s)
	err := res.Errors[bad]
	if err == nil || !errors.Is(err, container.ErrImage) || !strings.Contains(err.Error(), "registry.invalid/a:1") || !strings.Contains(err.Error(), "registry.invalid/b:1") {
		t.Errorf("no image available: error %v, want one naming both images", err)
	}
	sts, _ := e.s.Statuses(context.Background())
	if st := sts[bad]; st.Status != agent.StatusFailed || !strings.Contains(st.Reason, "registry.invalid/b:1") {
		t.Errorf("status %+v, want failed naming the images", st)
	}
	if len(e.ours(t)) != 1 {
		t.Errorf("a failed service left a container: %+v", e.ours(t))
	}
}
