package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aima-dev/aima/agent/gateway"
	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/state"
)

// engine is a stub engine on a real listener that counts its requests and
// remembers the Authorization headers it was sent.
type engine struct {
	srv   *httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	auths []string
}

func newEngine(t *testing.T, model string) *engine {
	t.Helper()
	e := &engine{}
	h := stub.Handler(stub.Options{Model: model, Log: io.Discard})
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		e.mu.Lock()
		e.auths = append(e.auths, r.Header.Get("Authorization"))
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func serve(t *testing.T, g *gateway.Gateway) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for p, h := range g.Handlers() {
		mux.Handle(p, h)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func chat(t *testing.T, base, model, extra string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"model": "`+model+`", "messages": [{"role": "user", "content": "hi"}]`+extra+`}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer aima-owner-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSpreadsOverEndpoints: two services of one model both answer, and
// aima's token is never handed to an engine.
func TestSpreadsOverEndpoints(t *testing.T) {
	a, b := newEngine(t, "tiny"), newEngine(t, "tiny")
	g := gateway.New(nil)
	g.SetRoutes(map[string][]gateway.Endpoint{"tiny": {{URL: a.srv.URL, Service: "a"}, {URL: b.srv.URL, Service: "b"}}})
	ts := serve(t, g)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if code, body := chat(t, ts.URL, "tiny", ""); code != 200 || !strings.Contains(body, "stub answer from tiny: hi") {
					t.Errorf("chat: %d %s", code, body)
				}
			}
		}()
	}
	wg.Wait()
	if a.hits.Load() < 10 || b.hits.Load() < 10 {
		t.Errorf("requests spread %d / %d over two endpoints, want both used", a.hits.Load(), b.hits.Load())
	}
	for _, e := range []*engine{a, b} {
		for _, h := range e.auths {
			if h != "" {
				t.Fatalf("an engine was sent Authorization %q", h)
			}
		}
	}
}

// TestFailover: an endpoint that refuses connections costs no request; it
// is tried again once a new table lists it.
func TestFailover(t *testing.T) {
	live := newEngine(t, "tiny")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	g := gateway.New(nil)
	g.SetRoutes(map[string][]gateway.Endpoint{"tiny": {{URL: dead, Service: "gone"}, {URL: live.srv.URL, Service: "live"}}})
	ts := serve(t, g)
	for i := range 20 {
		if code, body := chat(t, ts.URL, "tiny", ""); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	if live.hits.Load() != 20 {
		t.Errorf("live endpoint answered %d of 20", live.hits.Load())
	}
	// Nothing left to try: a clear 503, not a hang.
	g.SetRoutes(map[string][]gateway.Endpoint{"tiny": {{URL: dead, Service: "gone"}}})
	if code, body := chat(t, ts.URL, "tiny", ""); code != 503 || !strings.Contains(body, "refused") {
		t.Errorf("only a dead endpoint: %d %s", code, body)
	}
}

// TestStreamsUnbuffered: each server-sent event reaches the client before
// the engine sends the next one, and a client that goes away cancels the
// engine's request.
func TestStreamsUnbuffered(t *testing.T) {
	next := make(chan struct{})
	cancelled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: {\"n\": %d}\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				close(cancelled)
				return
			}
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	g := gateway.New(nil)
	g.SetRoutes(map[string][]gateway.Endpoint{"s": {{URL: up.URL, Service: "s"}}})
	ts := serve(t, g)

	// A gateway that buffered would hold the first event until the engine
	// ends, which it never does unless we read: the deadline fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/chat/completions", strings.NewReader(`{"model": "s", "stream": true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	readEvent := func() string {
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data:") {
				return line
			}
		}
		return ""
	}
	// The engine waits for us after each event: we can only read the
	// first two if the gateway passed each on as it came.
	if got := readEvent(); got != `data: {"n": 0}` {
		t.Fatalf("first event %q", got)
	}
	next <- struct{}{}
	if got := readEvent(); got != `data: {"n": 1}` {
		t.Fatalf("second event %q", got)
	}
	cancel() // the client goes away mid-stream
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the engine's request was not cancelled when the client went away")
	}
}

// TestModelsAndErrors: /v1/models is the table; a model without an
// endpoint gets the explanation, a body without a model names the field.
func TestModelsAndErrors(t *testing.T) {
	e := newEngine(t, "tiny")
	g := gateway.New(nil)
	g.Explain = func(model string) error {
		return fmt.Errorf("model %q: not a model of this state: %w", model, state.ErrNotFound)
	}
	g.SetRoutes(map[string][]gateway.Endpoint{"tiny": {{URL: e.srv.URL, Service: "chat"}}, "idle": nil})
	ts := serve(t, g)
	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"tiny"`) || strings.Contains(string(b), "idle") {
		t.Errorf("/v1/models: %s", b)
	}
	if code, body := chat(t, ts.URL, "nope", ""); code != 404 || !strings.Contains(body, "not a model of this state") {
		t.Errorf("unknown model: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions", strings.NewReader(`{"messages": []}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(b), `"/model"`) {
		t.Errorf("no model: %d %s", resp.StatusCode, b)
	}
}

// TestPerModelMetrics: requests, durations, time to first token, tokens
// (from the engine's usage, plain and streamed) and in-flight, by model.
func TestPerModelMetrics(t *testing.T) {
	e := newEngine(t, "tiny")
	reg := prometheus.NewRegistry()
	g := gateway.New(reg)
	g.SetRoutes(map[string][]gateway.Endpoint{"tiny": {{URL: e.srv.URL, Service: "chat"}}})
	ts := serve(t, g)
	for range 3 {
		if code, body := chat(t, ts.URL, "tiny", ""); code != 200 {
			t.Fatalf("chat: %d %s", code, body)
		}
	}
	if code, body := chat(t, ts.URL, "tiny", `, "stream": true, "stream_options": {"include_usage": true}`); code != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("streamed chat: %d %s", code, body)
	}
	chat(t, ts.URL, "nope", "")
	want := `
# HELP aima_inference_requests_total Inference requests through the gateway, by model and HTTP status (499: the client went away).
# TYPE aima_inference_requests_total counter
aima_inference_requests_total{code="200",model="tiny"} 4
aima_inference_requests_total{code="404",model="_unknown"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "aima_inference_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "aima_inference_request_duration_seconds", "aima_inference_time_to_first_token_seconds"); n != 2 {
		t.Errorf("%d duration/ttft series, want one each for tiny", n)
	}
	prompt := testutil.ToFloat64(mustCounter(t, reg, "aima_inference_tokens_total", "prompt"))
	completion := testutil.ToFloat64(mustCounter(t, reg, "aima_inference_tokens_total", "completion"))
	if prompt < 4 || completion < 4 {
		t.Errorf("tokens: prompt %v, completion %v; want the usage of all four answers", prompt, completion)
	}
}

// mustCounter finds the tokens counter of a direction for model tiny.
func mustCounter(t *testing.T, reg *prometheus.Registry, name, direction string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["model"] == "tiny" && labels["direction"] == direction {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no %s{model=tiny,direction=%s}", name, direction)
	return nil
}

// TestRefreshOnMiss: a model the table does not have yet (its service just
// became healthy) is looked up anew once, not refused.
func TestRefreshOnMiss(t *testing.T) {
	e := newEngine(t, "fresh")
	g := gateway.New(nil)
	var calls atomic.Int64
	g.Refresh = func(context.Context, string) (map[string][]gateway.Endpoint, error) {
		calls.Add(1)
		return map[string][]gateway.Endpoint{"fresh": {{URL: e.srv.URL, Service: "fresh"}}}, nil
	}
	ts := serve(t, g)
	if code, body := chat(t, ts.URL, "fresh", ""); code != 200 {
		t.Fatalf("first request for a new model: %d %s", code, body)
	}
	for range 5 {
		chat(t, ts.URL, "fresh", "")
	}
	if calls.Load() != 1 {
		t.Errorf("the table was derived %d times; once is enough when it has the model", calls.Load())
	}
}
