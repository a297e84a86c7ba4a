package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/state"

	"github.com/aima-dev/aima/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStore returns an initialised state directory in t.TempDir() whose
// aima.yaml names instance.
func newStore(t *testing.T, instance string) *state.Store {
	t.Helper()
	dir := t.TempDir()
	settings := "format: 1\ninstance: " + instance + "\n"
	if err := os.WriteFile(filepath.Join(dir, "aima.yaml"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatalf("init %s: %v", dir, err)
	}
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if set.Instance != instance {
		t.Fatalf("aima.yaml instance = %q, want %q", set.Instance, instance)
	}
	return st
}

// addModel creates models/<name>.yaml unless it exists.
func addModel(t *testing.T, st *state.Store, m *state.Model) {
	t.Helper()
	if st.Exists(state.KindModel, m.Name) {
		return
	}
	if _, err := st.Create(state.KindModel, m); err != nil {
		t.Fatalf("create model %s: %v", m.Name, err)
	}
}

// addService creates services/<name>.yaml serving model (created if
// needed, with no path) on engine at port.
func addService(t *testing.T, st *state.Store, name, model, engine string, port int, env map[string]string) agent.Object {
	t.Helper()
	addModel(t, st, &state.Model{Name: model})
	svc := &state.Service{Name: name, Model: model, Engine: engine, Port: port, Env: env}
	if _, err := st.Create(state.KindService, svc); err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return agent.Object{Kind: "service", Name: name}
}

// updateService changes services/<name>.yaml and commits it.
func updateService(t *testing.T, st *state.Store, name string, mutate func(*state.Service)) {
	t.Helper()
	_, err := st.Update(state.KindService, name, "", func(o state.Object) (state.Object, error) {
		mutate(o.(*state.Service))
		return o, nil
	})
	if err != nil {
		t.Fatalf("update service %s: %v", name, err)
	}
}

// setState is `aima service start|stop` on the files.
func setState(t *testing.T, st *state.Store, name, want string) {
	t.Helper()
	if _, err := agent.SetState(st, state.KindService, name, want); err != nil {
		t.Fatalf("set service %s %s: %v", name, want, err)
	}
}

// pass runs one sync pass and fails the test if the pass as a whole fails.
func pass(t *testing.T, s *agent.Syncer) agent.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := s.Pass(ctx)
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	return res
}

// planOf is `aima diff`: observe and plan without acting.
func planOf(t *testing.T, s *agent.Syncer) agent.Result {
	t.Helper()
	res, err := s.Plan(context.Background())
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return res
}

// statusOf returns the derived status of obj.
func statusOf(t *testing.T, s *agent.Syncer, obj agent.Object) agent.Status {
	t.Helper()
	sts, err := s.Statuses(context.Background())
	if err != nil {
		t.Fatalf("statuses: %v", err)
	}
	st, ok := sts[obj]
	if !ok {
		t.Fatalf("statuses: no entry for %s in %v", obj, sts)
	}
	return st
}

// waitStatus polls the status of obj until it is want, and fails the test
// with the last status when it is not within timeout.
func waitStatus(t *testing.T, s *agent.Syncer, obj agent.Object, want string, timeout time.Duration) agent.Status {
	t.Helper()
	var last agent.Status
	ok := poll(timeout, func() bool {
		last = statusOf(t, s, obj)
		return last.Status == want
	})
	if !ok {
		t.Fatalf("%s is %q after %s, want %q (last status %+v)", obj, last.Status, timeout, want, last)
	}
	return last
}

// poll calls cond every 50 ms until it returns true (poll returns true) or
// timeout passes (false).
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// opsOf lists a plan's operations for obj as "op (cause)".
func opsOf(res agent.Result, obj agent.Object) []string {
	var out []string
	for _, op := range res.Plan.Ops {
		if op.Kind == obj.Kind && op.Name == obj.Name {
			out = append(out, op.Op.String()+" ("+op.Cause+")")
		}
	}
	return out
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func held(res agent.Result, obj agent.Object) bool {
	for _, h := range res.Plan.Held {
		if h.Kind == obj.Kind && h.Name == obj.Name {
			return true
		}
	}
	return false
}
