// Package gateway is aima's OpenAI-compatible inference gateway: it routes
// /v1/chat/completions, /v1/completions and /v1/embeddings to the healthy
// endpoints of the model named in the body, and answers /v1/models.
//
// Routes come from a table the agent sets after its sync passes and health
// probes (SetRoutes); a request does no Docker call and no file read. One
// shared Transport keeps connections to the engines alive; requests are
// spread by least outstanding requests; an endpoint that refuses the
// connection is skipped and the request tried on another (it was not sent);
// answers stream through as they come (server-sent events are flushed
// chunk by chunk) and a client that goes away cancels the engine's request.
// Per-model metrics go to the registry given to New.
//
// The package knows nothing of containers or files: it must not import the
// agent's engine.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/state"
)

// Endpoint is one place a model is served: a running, healthy service (or
// one replica of it).
type Endpoint struct {
	// URL is the engine's base URL, e.g. http://127.0.0.1:8001.
	URL string `json:"url"`
	// Service is the service that serves it.
	Service string `json:"service"`
}

// endpoint is an Endpoint with its live counters; it outlives table
// updates (keyed by URL) so a request in flight keeps being counted.
type endpoint struct {
	Endpoint
	inFlight atomic.Int64
	down     atomic.Bool // refused a connection since the table last said it is healthy
}

type table struct {
	models map[string][]*endpoint
	names  []string // sorted, for /v1/models
}

// Gateway serves the OpenAI-compatible routes.
type Gateway struct {
	routes    atomic.Pointer[table]
	mu        sync.Mutex // serialises SetRoutes
	known     map[string]*endpoint
	next      atomic.Uint64 // breaks ties between equally loaded endpoints
	transport *http.Transport
	m         *metrics
	// Refresh, when set, derives the table anew for a request whose model
	// the table lacks (at most every refreshEvery) before giving up, so a
	// service that just became healthy answers at once; nil routes and no
	// error: nothing to refresh for that model.
	Refresh     func(ctx context.Context, model string) (map[string][]Endpoint, error)
	lastRefresh atomic.Int64 // unix nanoseconds
	// Explain, when set, says why a model has no endpoint (not a model of
	// this state, no running service, ...); the error it returns is the
	// answer. Called only when the table has nothing for the model.
	Explain func(model string) error
}

// New returns a gateway with an empty table; its metrics are registered on
// reg (nil: not registered).
func New(reg prometheus.Registerer) *Gateway {
	g := &Gateway{known: map[string]*endpoint{}, m: newMetrics(reg)}
	g.routes.Store(&table{models: map[string][]*endpoint{}})
	g.transport = &http.Transport{
		Proxy:               nil, // engines are local: never through an HTTP proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256, // ≥ the concurrency a box's clients bring; the default 2 reconnects constantly
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass the engine's bytes as they are
		ForceAttemptHTTP2:   false,
	}
	return g
}

// SetRoutes replaces the table: model → its healthy endpoints. An endpoint
// marked down after a refused connection is up again when a new table
// still lists it (the probe says it is healthy).
func (g *Gateway) SetRoutes(routes map[string][]Endpoint) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := &table{models: map[string][]*endpoint{}}
	seen := map[string]bool{}
	for model, eps := range routes {
		for _, e := range eps {
			ep, ok := g.known[e.URL]
			if !ok || ep.Service != e.Service {
				ep = &endpoint{Endpoint: e}
				g.known[e.URL] = ep
			}
			ep.down.Store(false)
			seen[e.URL] = true
			t.models[model] = append(t.models[model], ep)
		}
		if len(t.models[model]) > 0 {
			t.names = append(t.names, model)
		}
	}
	for url := range g.known {
		if !seen[url] {
			delete(g.known, url)
		}
	}
	sort.Strings(t.names)
	g.routes.Store(t)
}

// Register puts the gateway's metrics on reg (for a gateway made with
// New(nil), once the registry exists).
func (g *Gateway) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{g.m.requests, g.m.duration, g.m.ttft, g.m.tokens, g.m.inFlight} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Routes returns the table as it is now.
func (g *Gateway) Routes() map[string][]Endpoint {
	t := g.routes.Load()
	out := make(map[string][]Endpoint, len(t.models))
	for model, eps := range t.models {
		for _, ep := range eps {
			out[model] = append(out[model], ep.Endpoint)
		}
	}
	return out
}

// Handlers are the routes to serve, by mux pattern.
func (g *Gateway) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/models":            http.HandlerFunc(g.models),
		"POST /v1/chat/completions": http.HandlerFunc(g.proxy),
		"POST /v1/completions":      http.HandlerFunc(g.proxy),
		"POST /v1/embeddings":       http.HandlerFunc(g.proxy),
	}
}

func (g *Gateway) models(w http.ResponseWriter, _ *http.Request) {
	t := g.routes.Load()
	data := make([]map[string]any, 0, len(t.names))
	for _, name := range t.names {
		data = append(data, map[string]any{"id": name, "object": "model", "owned_by": "aima"})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// refreshEvery bounds how often a miss re-derives the table.
const refreshEvery = 100 * time.Millisecond

// refresh re-derives the table on a miss, unless that was just done.
func (g *Gateway) refresh(ctx context.Context, model string) bool {
	if g.Refresh == nil {
		return false
	}
	now := time.Now().UnixNano()
	last := g.lastRefresh.Load()
	if now-last < int64(refreshEvery) || !g.lastRefresh.CompareAndSwap(last, now) {
		return false
	}
	routes, err := g.Refresh(ctx, model)
	if err != nil || routes == nil {
		return false
	}
	g.SetRoutes(routes)
	return true
}

// maxTries bounds the attempts on one endpoint: a second one on a fresh
// connection when a kept-alive one was closed under the request.
const maxTries = 2

// pick is the endpoint of model with the fewest requests in flight (ties
// taken in turn; endpoints not tried yet first), skipping those marked down
// and those tried maxTries times.
func (g *Gateway) pick(eps []*endpoint, tried map[*endpoint]int) *endpoint {
	var best *endpoint
	n := len(eps)
	start := int(g.next.Add(1) % uint64(max(n, 1)))
	for i := range n {
		ep := eps[(start+i)%n]
		if tried[ep] >= maxTries || ep.down.Load() {
			continue
		}
		if best == nil || tried[ep] < tried[best] || (tried[ep] == tried[best] && ep.inFlight.Load() < best.inFlight.Load()) {
			best = ep
		}
	}
	return best
}

// hop-by-hop and aima's own headers: never sent to an engine (the token is
// aima's, not the engine's).
var dropHeaders = []string{"Authorization", "X-Aima-Author", "Cookie", "Connection", "Keep-Alive", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBody+1))
	if err != nil || len(body) > api.MaxBody {
		api.WriteError(w, state.FieldError("body", "unreadable or over %d bytes", api.MaxBody))
		return
	}
	var req struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		api.WriteError(w, &api.Error{Status: http.StatusBadRequest, Code: "bad_json", Message: "bad JSON: " + err.Error()})
		return
	}
	if req.Model == "" {
		api.WriteError(w, state.FieldError("model", "required (the aima model to route to)"))
		return
	}
	t := g.routes.Load()
	eps := t.models[req.Model]
	if len(eps) == 0 && g.refresh(r.Context(), req.Model) {
		eps = g.routes.Load().models[req.Model]
	}
	if len(eps) == 0 {
		g.m.requests.WithLabelValues(unknownModel, "404").Inc()
		err := fmt.Errorf("model %q: no running service answers for it: %w", req.Model, state.ErrNotFound)
		if g.Explain != nil {
			if e := g.Explain(req.Model); e != nil {
				err = e
			}
		}
		api.WriteError(w, err)
		return
	}
	inFlight := g.m.inFlight.WithLabelValues(req.Model)
	inFlight.Inc()
	defer inFlight.Dec()
	tried := map[*endpoint]int{}
	for {
		ep := g.pick(eps, tried)
		if ep == nil {
			g.m.requests.WithLabelValues(req.Model, "503").Inc()
			api.WriteError(w, fmt.Errorf("model %q: every endpoint refused the connection or closed it unanswered: %w", req.Model, state.ErrUnavailable))
			return
		}
		tried[ep]++
		done, retry := g.forward(w, r, ep, req.Model, body, start)
		if done || !retry {
			return
		}
	}
}

// forward sends the request to ep. retry is true when the engine answered
// nothing — the connection was refused (ep is marked down), or a kept-alive
// connection was closed under the request (an engine stopping): no byte went
// back to the client, so the caller tries again, elsewhere first.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, ep *endpoint, model string, body []byte, start time.Time) (done, retry bool) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, ep.URL+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		api.WriteError(w, err)
		return true, false
	}
	out.URL.RawQuery = r.URL.RawQuery
	for k, vs := range r.Header {
		out.Header[k] = vs
	}
	for _, h := range dropHeaders {
		out.Header.Del(h)
	}
	out.ContentLength = int64(len(body))
	ep.inFlight.Add(1)
	defer ep.inFlight.Add(-1)
	resp, err := g.transport.RoundTrip(out)
	if err != nil {
		if r.Context().Err() == nil {
			if refused(err) {
				ep.down.Store(true)
			}
			return false, true
		}
		code := "502"
		if r.Context().Err() != nil {
			code = "499" // the client went away
		}
		g.m.requests.WithLabelValues(model, code).Inc()
		api.WriteError(w, &api.Error{Status: http.StatusBadGateway, Code: "bad_gateway", Message: fmt.Sprintf("model %q: %s: %v", model, ep.Service, err)})
		return true, false
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	stream := isStream(resp.Header.Get("Content-Type"))
	if stream || resp.ContentLength < 0 {
		h.Del("Content-Length") // streamed as it comes
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	tail := &usageTail{stream: stream}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	first := true
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if first {
				g.m.ttft.WithLabelValues(model).Observe(time.Since(start).Seconds())
				first = false
			}
			tail.write(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				break // the client went away; its context cancels the engine's request
			}
			if stream || resp.ContentLength < 0 {
				_ = rc.Flush() // each event as it comes; a sized answer goes out in one write
			}
		}
		if rerr != nil {
			break
		}
	}
	g.m.requests.WithLabelValues(model, strconv.Itoa(resp.StatusCode)).Inc()
	g.m.duration.WithLabelValues(model).Observe(time.Since(start).Seconds())
	if in, outTok, ok := tail.usage(); ok {
		g.m.tokens.WithLabelValues(model, "prompt").Add(float64(in))
		g.m.tokens.WithLabelValues(model, "completion").Add(float64(outTok))
	}
	return true, false
}

// refused reports whether err means the engine never got the request: the
// connection was refused or could not be made.
func refused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func isStream(contentType string) bool {
	return len(contentType) >= 17 && contentType[:17] == "text/event-stream"
}

const unknownModel = "_unknown"

// bufPool holds the copy buffers: one per answer in flight, not one per
// request for the collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
