package alert_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/alert"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

func create(t *testing.T, st *state.Store, a *state.Alert) {
	t.Helper()
	if _, err := st.Create(state.KindAlert, a); err != nil {
		t.Fatal(err)
	}
}

// TestRealHostMetrics fires a rule on this machine's real memory reading
// and leaves an impossible one quiet; GPU rules stay quiet without a GPU.
func TestRealHostMetrics(t *testing.T) {
	st := testenv.NewStore(t)
	create(t, st, &state.Alert{Name: "mem-any", Condition: "mem_used_pct > 0 and mem_available_gb > 0", Action: "log"})
	create(t, st, &state.Alert{Name: "mem-impossible", Condition: "mem_used_pct > 100"})
	create(t, st, &state.Alert{Name: "gpu-hot", Condition: "gpu_temp >= 0"})
	host := &alert.Host{}
	e := &alert.Engine{Store: st, Sample: func(ctx context.Context) alert.Sample { return alert.Sample{Metrics: host.Metrics(ctx)} }}
	evs, err := e.Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var fired []string
	for _, ev := range evs {
		fired = append(fired, ev.Rule+":"+ev.State)
	}
	want := "mem-any:firing"
	if m := host.Metrics(context.Background()); m["gpu_count"] > 0 {
		want = "gpu-hot:firing,mem-any:firing"
	}
	if got := strings.Join(fired, ","); got != want {
		t.Errorf("fired %q, want %q", got, want)
	}
}

type fakeSample struct {
	mu sync.Mutex
	s  alert.Sample
}

func (f *fakeSample) set(m map[string]float64, svcs map[string]alert.Service) {
	f.mu.Lock()
	f.s = alert.Sample{Metrics: m, Services: svcs}
	f.mu.Unlock()
}

func (f *fakeSample) get(context.Context) alert.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func TestFiringResolvingWebhookAndRestart(t *testing.T) {
	var mu sync.Mutex
	var got []alert.Event
	fails := 1 // the first delivery fails: the webhook is retried
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var ev alert.Event
		json.NewDecoder(r.Body).Decode(&ev)
		got = append(got, ev)
	}))
	defer hook.Close()

	st := testenv.NewStore(t)
	create(t, st, &state.Alert{Name: "chat-down", Condition: `service_down("chat") or mem_used_pct > 90`, Action: "webhook", WebhookURL: hook.URL, Severity: "critical", Cooldown: "1h"})
	fs := &fakeSample{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := &alert.Engine{Store: st, Sample: fs.get, Now: clock}
	ctx := context.Background()

	fs.set(map[string]float64{"mem_used_pct": 10}, map[string]alert.Service{"chat": {Status: "running"}})
	if evs, _ := e.Evaluate(ctx); len(evs) != 0 {
		t.Fatalf("quiet state fired: %+v", evs)
	}
	fs.set(map[string]float64{"mem_used_pct": 10}, map[string]alert.Service{"chat": {Status: "failed"}})
	evs, _ := e.Evaluate(ctx)
	if len(evs) != 1 || evs[0].State != "firing" || !strings.Contains(evs[0].Result, "attempt 2") {
		t.Fatalf("firing: %+v", evs)
	}
	if a := e.Active(); len(a) != 1 || a[0].Rule != "chat-down" || a[0].Severity != "critical" {
		t.Errorf("active: %+v", a)
	}
	// Still firing: no second notification.
	if evs, _ := e.Evaluate(ctx); len(evs) != 0 {
		t.Errorf("re-notified while firing: %+v", evs)
	}
	// A restart (new engine, same directory) still knows it is firing.
	e2 := &alert.Engine{Store: st, Sample: fs.get, Now: clock}
	if a := e2.Active(); len(a) != 1 {
		t.Fatalf("active after restart: %+v", a)
	}
	fs.set(map[string]float64{"mem_used_pct": 10}, map[string]alert.Service{"chat": {Status: "running"}})
	now = now.Add(time.Minute)
	evs, _ = e2.Evaluate(ctx)
	if len(evs) != 1 || evs[0].State != "resolved" {
		t.Fatalf("resolve: %+v", evs)
	}
	// Firing again within the cooldown is recorded but not notified.
	fs.set(map[string]float64{"mem_used_pct": 95}, nil)
	now = now.Add(time.Minute)
	evs, _ = e2.Evaluate(ctx)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Result, "not notified") {
		t.Errorf("cooldown: %+v", evs)
	}
	mu.Lock()
	states := []string{}
	for _, ev := range got {
		states = append(states, ev.State)
	}
	mu.Unlock()
	if strings.Join(states, ",") != "firing,resolved" {
		t.Errorf("webhook received %v, want firing,resolved", states)
	}
	hist, _ := e2.History(0)
	if len(hist) != 3 {
		t.Errorf("history has %d events, want 3: %+v", len(hist), hist)
	}
}

func TestStopServiceAction(t *testing.T) {
	st := testenv.NewStore(t)
	create(t, st, &state.Alert{Name: "crashy", Condition: `service_restarts("chat") >= 3`, Action: "stop_service"})
	var stopped []string
	e := &alert.Engine{
		Store: st,
		Sample: func(context.Context) alert.Sample {
			return alert.Sample{Services: map[string]alert.Service{"chat": {Status: "running", Restarts: 4}}}
		},
		StopService: func(_ context.Context, name string) error { stopped = append(stopped, name); return nil },
	}
	evs, err := e.Evaluate(context.Background())
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %+v", err, evs)
	}
	if strings.Join(stopped, ",") != "chat" || !strings.Contains(evs[0].Result, "stopped [chat]") {
		t.Errorf("stopped %v, result %q", stopped, evs[0].Result)
	}
}

func TestDisabledAndDeletedRules(t *testing.T) {
	st := testenv.NewStore(t)
	off := false
	create(t, st, &state.Alert{Name: "off", Condition: "load1 >= 0", Enabled: &off})
	create(t, st, &state.Alert{Name: "on", Condition: "load1 >= 0"})
	e := &alert.Engine{Store: st, Sample: func(context.Context) alert.Sample { return alert.Sample{Metrics: map[string]float64{"load1": 1}} }}
	evs, _ := e.Evaluate(context.Background())
	if len(evs) != 1 || evs[0].Rule != "on" {
		t.Fatalf("%+v", evs)
	}
	if err := st.Delete(state.KindAlert, "on", ""); err != nil {
		t.Fatal(err)
	}
	evs, _ = e.Evaluate(context.Background())
	if len(evs) != 1 || evs[0].State != "resolved" || len(e.Active()) != 0 {
		t.Errorf("deleted rule: %+v active %+v", evs, e.Active())
	}
}

// TestServiceFunctions pins what each service function means per status: a
// service on its way up (pending, creating, starting) is not down, so an
// agent start or a fresh deploy raises no false alarm.
func TestServiceFunctions(t *testing.T) {
	cases := []struct {
		status           string
		down, up, failed bool
	}{
		{"running", false, true, false},
		{"pending", false, false, false},
		{"creating", false, false, false},
		{"starting", false, false, false},
		{"stopped", true, false, false},
		{"failed", true, false, true},
		{"unhealthy", true, false, true},
		{"unknown", true, false, false},
		{"", true, false, false}, // no such service
	}
	for _, c := range cases {
		s := alert.Sample{Services: map[string]alert.Service{}}
		if c.status != "" {
			s.Services["chat"] = alert.Service{Status: c.status}
		}
		for fn, want := range map[string]bool{"service_down": c.down, "service_up": c.up, "service_failed": c.failed} {
			e, err := state.ParseCondition(fn + `("chat")`)
			if err != nil {
				t.Fatal(err)
			}
			if got := alert.Eval(e, s); got != want {
				t.Errorf("%s(\"chat\") with status %q = %v, want %v", fn, c.status, got, want)
			}
		}
	}
}
