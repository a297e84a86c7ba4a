package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/state"
)

// InferenceRoutes are the agent's OpenAI-compatible endpoints: /v1/models
// lists the models that have a running service; chat, completions and
// embeddings are proxied (streaming included) to a running service of the
// model named in the body.
func InferenceRoutes(s *agent.Syncer) map[string]http.Handler {
	proxy := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBody+1))
		if err != nil || len(body) > api.MaxBody {
			api.WriteError(w, fmt.Errorf("%w: body: unreadable or over %d bytes", state.ErrInvalid, api.MaxBody))
			return
		}
		var req struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			api.WriteError(w, fmt.Errorf("%w: bad JSON: %v", state.ErrInvalid, err))
			return
		}
		if req.Model == "" {
			api.WriteError(w, state.FieldError("model", "required (the aima model to route to)"))
			return
		}
		endpoint, err := s.Route(r.Context(), req.Model)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		target, _ := url.Parse(endpoint)
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Body = io.NopCloser(bytes.NewReader(body))
				pr.Out.ContentLength = int64(len(body))
			},
			FlushInterval: -1, // stream server-sent events as they come
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				api.WriteError(w, fmt.Errorf("%w: %s: %v", api.ErrUnavailable, endpoint, err))
			},
		}
		rp.ServeHTTP(w, r)
	}
	models := func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		entries, err := s.Store.List(state.KindModel)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		data := []map[string]any{}
		for _, e := range entries {
			if _, err := s.Route(ctx, e.Object.ObjectName()); err == nil {
				data = append(data, map[string]any{"id": e.Object.ObjectName(), "object": "model", "owned_by": "aima"})
			}
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	}
	return map[string]http.Handler{
		"GET /v1/models":            http.HandlerFunc(models),
		"POST /v1/chat/completions": http.HandlerFunc(proxy),
		"POST /v1/completions":      http.HandlerFunc(proxy),
		"POST /v1/embeddings":       http.HandlerFunc(proxy),
	}
}
