package operator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/unit"
)

// ChatRoute is the operator's HTTP route.
const ChatRoute = "POST /api/agent/chat"

// Handler serves POST /api/agent/chat: the body is a Request; the answer
// is a stream of server-sent events, one per Event (its type as the event
// name: start, tool, answer, stop), then "done" with the Result, or
// "error" with the error body when the turn failed after it started. A
// request that fails before the turn starts (bad body, no LLM) gets the
// usual JSON error instead. Behind the agent's door, writes commit as the
// token's name (with yes) or are proposed as aima-agent.
func (o *Operator) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := api.DecodeBody(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		var req Request
		if err := unit.Decode(body, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		var mu sync.Mutex
		started := false
		rc := http.NewResponseController(w)
		send := func(event string, v any) {
			mu.Lock()
			defer mu.Unlock()
			if !started {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Cache-Control", "no-cache")
				w.WriteHeader(http.StatusOK)
				started = true
			}
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
			_ = rc.Flush()
		}
		res, err := o.Ask(r.Context(), req, func(ev Event) { send(ev.Type, ev) })
		if err != nil {
			if !started {
				api.WriteError(w, err)
				return
			}
			e := api.AsError(err)
			send("error", map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message}})
			return
		}
		send("done", res)
	})
}
