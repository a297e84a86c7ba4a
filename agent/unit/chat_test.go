package unit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// routeOnly is unit.Services that knows one endpoint and nothing else.
type routeOnly struct{ url string }

var errNo = errors.New("not in this test")

func (r routeOnly) SetState(context.Context, string, string, string) error { return errNo }
func (r routeOnly) Converge(context.Context, string, string) error         { return errNo }
func (r routeOnly) Status(context.Context, string, string) (map[string]any, error) {
	return nil, errNo
}
func (r routeOnly) Wait(context.Context, string, string, string, time.Duration) (map[string]any, error) {
	return nil, errNo
}
func (r routeOnly) Route(context.Context, string) (string, error) { return r.url, nil }
func (r routeOnly) Logs(context.Context, string, string, int, int) (string, error) {
	return "", errNo
}
func (r routeOnly) Resources(context.Context) ([]map[string]any, error)   { return nil, errNo }
func (r routeOnly) Plan(context.Context) (map[string]any, error)          { return nil, errNo }
func (r routeOnly) Sync(context.Context) (map[string]any, error)          { return nil, errNo }
func (r routeOnly) Render(context.Context, string, string) ([]any, error) { return nil, errNo }

// TestChatPassesSamplingParameters: max_tokens and temperature reach the
// engine as numbers, given as numbers or as the strings a query carries;
// a bad one is refused naming it.
func TestChatPassesSamplingParameters(t *testing.T) {
	var got map[string]any
	eng := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		_, _ = w.Write([]byte(`{"choices": [{"message": {"content": "ok"}}]}`))
	}))
	defer eng.Close()
	env := newEnv(t)
	env.Services = routeOnly{eng.URL}
	for _, p := range []map[string]any{
		{"model": "m", "message": "hi", "max_tokens": "5", "temperature": "0.5"},
		{"model": "m", "message": "hi", "max_tokens": 5.0, "temperature": 0.5},
	} {
		out, err := unit.Default.Call(context.Background(), env, "inference.chat", p)
		if err != nil || out["content"] != "ok" {
			t.Fatalf("chat %v: %v %v", p, out, err)
		}
		if got["max_tokens"] != 5.0 || got["temperature"] != 0.5 {
			t.Errorf("the engine got max_tokens %v, temperature %v; want 5 and 0.5", got["max_tokens"], got["temperature"])
		}
	}
	_, err := unit.Default.Call(context.Background(), env, "inference.chat", map[string]any{"model": "m", "message": "hi", "max_tokens": "many"})
	if ps := state.Problems(err); !errors.Is(err, state.ErrInvalid) || ps[0].Field != "/max_tokens" {
		t.Errorf("bad max_tokens: %v", err)
	}
}

// TestChatStreams: with stream set, inference.chat asks the engine (the
// stub engine's real handler) for an event stream, hands each piece to the
// caller's WithStream as it comes, and answers the whole text — the same
// text the engine gives without streaming.
func TestChatStreams(t *testing.T) {
	eng := httptest.NewServer(stub.Handler(stub.Options{Model: "m"}))
	defer eng.Close()
	env := newEnv(t)
	env.Services = routeOnly{eng.URL}
	var pieces []string
	ctx := unit.WithStream(context.Background(), func(p string) { pieces = append(pieces, p) })
	out, err := unit.Default.Call(ctx, env, "inference.chat", map[string]any{"model": "m", "message": "hello there", "stream": true})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := unit.Default.Call(context.Background(), env, "inference.chat", map[string]any{"model": "m", "message": "hello there"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) < 2 || strings.Join(pieces, "") != out["content"] || out["content"] != whole["content"] {
		t.Errorf("streamed %q → %q; not streamed %q", pieces, out["content"], whole["content"])
	}
}
