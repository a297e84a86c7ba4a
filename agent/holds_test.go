package agent_test

// What the executor used to decide by itself (hold a restart in backoff,
// refuse a host port a process holds, fall back to an alternative image)
// is the planner's now: a diff shows it with its cause, and a pass does
// what the plan says.

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestDiffShowsBackoffHold: during a crash loop's backoff, aima diff (and
// GET /api/diff, the state.diff unit) shows the held restart and why.
func TestDiffShowsBackoffHold(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "chat", "tiny", "stub", testenv.FreePort(t), nil)
	pass(t, e.s)
	id := e.only(t).ID
	for range 2 { // two restarts within the crash window: a crash loop
		if err := e.rt.Kill(id, 1); err != nil {
			t.Fatal(err)
		}
		pass(t, e.s)
	}
	if err := e.rt.Kill(id, 1); err != nil {
		t.Fatal(err)
	}
	res := planOf(t, e.s)
	want := "= service/chat held: restarting in "
	if got := res.Plan.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, "crash loop: the container exited and was restarted 2 times") {
		t.Errorf("diff in the backoff:\n%s\nwant %q... naming the crash loop", got, want)
	}
	if len(res.Plan.Ops) != 0 || !held(res, obj) {
		t.Errorf("diff in the backoff: ops %v, held %v", opsOf(res, obj), res.Plan.Held)
	}

	out, err := unit.Default.Call(context.Background(), daemon.UnitEnv(e.st, e.s, nil), "state.diff", nil)
	if err != nil {
		t.Fatal(err)
	}
	if out["in_sync"] != false || !strings.HasPrefix(fmt.Sprint(out["plan"]), want) {
		t.Errorf("state.diff: in_sync %v, plan %q", out["in_sync"], out["plan"])
	}
	heldItems, _ := out["held"].([]map[string]any)
	if len(heldItems) != 1 || heldItems[0]["name"] != "chat" || !strings.HasPrefix(fmt.Sprint(heldItems[0]["cause"]), "restarting in ") || heldItems[0]["retry_at"] == nil {
		t.Errorf("state.diff held = %v", out["held"])
	}
}

// TestPortTakenByProcessIsPlanned: a process outside Docker on a service's
// host port is found before the plan, so aima diff names it; the pass
// creates nothing, fails the service naming the port and the process, and
// retries with backoff; once the port is free the service is created.
func TestPortTakenByProcessIsPlanned(t *testing.T) {
	e := newFakeEnv(t)
	port := testenv.FreePort(t)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	obj := addService(t, e.st, "busy", "tiny", "stub", port, nil)
	who := "another process"
	if _, err := os.Readlink("/proc/self/fd/0"); err == nil {
		who = fmt.Sprintf("process %d (", os.Getpid())
	}

	want := fmt.Sprintf("! service/busy cannot run: host port %d is held by %s", port, who)
	if got := planOf(t, e.s).Plan.String(); !strings.HasPrefix(got, want) {
		t.Errorf("diff with the port taken:\n%s\nwant %s...", got, want)
	}
	res := pass(t, e.s)
	if err := res.Errors[obj]; err == nil || !strings.Contains(err.Error(), fmt.Sprintf("host port %d is held by %s", port, who)) {
		t.Errorf("pass: error %v, want one naming port %d and %s", err, port, who)
	}
	if len(opsOf(res, obj)) != 0 || len(e.ours(t)) != 0 {
		t.Errorf("pass with the port taken: ops %v, containers %v", opsOf(res, obj), e.ours(t))
	}
	if st := statusOf(t, e.s, obj); st.Status != agent.StatusFailed || !strings.Contains(st.Reason, strconv.Itoa(port)) {
		t.Errorf("status = %+v, want failed naming the port", st)
	}
	if got := planOf(t, e.s).Plan.String(); !strings.HasPrefix(got, "= service/busy held: retrying in ") || !strings.Contains(got, "after 1 failed attempt: host port") {
		t.Errorf("diff after the failure:\n%s\nwant the retry held, naming the port", got)
	}

	ln.Close()
	next, ok := e.s.NextRetry()
	if !ok {
		t.Fatal("no retry after the failure")
	}
	created := poll(5*time.Second, func() bool {
		if time.Now().Before(next) {
			return false
		}
		pass(t, e.s)
		return len(e.ours(t)) == 1
	})
	if !created {
		t.Fatalf("not created within 5 s of the port being freed: %v", e.ours(t))
	}
}

// TestAlternativeImagePlanned: the image a create uses is the plan's; the
// pass learns which images cannot be had and plans again, so the
// operation that stands names the alternative and why.
func TestAlternativeImagePlanned(t *testing.T) {
	e := newFakeEnv(t)
	e.rt.AddImage("mirror.local/eng:1", "eng: started\n")
	if _, err := e.st.Create(state.KindEngine, &state.Engine{Name: "eng", Image: "registry.invalid/eng:1",
		AlternativeImages: []string{"registry.invalid/eng:0", "mirror.local/eng:1"}, Port: 8000, GPU: "none"}); err != nil {
		t.Fatal(err)
	}
	obj := addService(t, e.st, "chat", "tiny", "eng", testenv.FreePort(t), nil)
	res := pass(t, e.s)
	want := []string{"create (no container; alternative image mirror.local/eng:1, as registry.invalid/eng:1 and registry.invalid/eng:0 could not be had)"}
	if d := cmp.Diff(want, opsOf(res, obj)); d != "" || res.Errors[obj] != nil {
		t.Errorf("pass ops (-want +got):\n%s\nerror %v", d, res.Errors[obj])
	}
	if c := e.only(t); c.Image != "mirror.local/eng:1" || c.State != container.StateRunning {
		t.Errorf("container from %s (%s), want running from mirror.local/eng:1", c.Image, c.State)
	}
}
