package unit

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/aima-dev/aima/agent/api"
)

// Routes maps the API's domain verbs (served at /api/<key>) to the units
// that answer them.
var Routes = map[string]string{
	"model/pull":      "model.pull",
	"pipeline/run":    "pipeline.run",
	"pipeline/runs":   "pipeline.runs",
	"pipeline/cancel": "pipeline.cancel",
	"catalog/match":   "catalog.match",
	"catalog/apply":   "catalog.apply",
	"skill/search":    "skill.search",
	"skill/enable":    "skill.enable",
	"skill/disable":   "skill.disable",
}

// Verbs are the HTTP handlers of Routes, plus GET /api/unit/list (the
// registry) and POST /api/unit/call {"unit": NAME, "params": {...}}.
// Parameters come from the query string and, for POST, a JSON object body
// (body fields win).
func Verbs(env *Env, reg *Registry) map[string]api.Verb {
	v := map[string]api.Verb{}
	for path, name := range Routes {
		u, _ := reg.Get(name)
		v[path] = api.Verb{Read: u.Read, Handle: func(w http.ResponseWriter, r *http.Request) {
			p, err := params(r)
			if err != nil {
				api.WriteError(w, err)
				return
			}
			out, err := reg.Call(r.Context(), env, name, p)
			if err != nil {
				api.WriteError(w, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, out)
		}}
	}
	v["unit/list"] = api.Verb{Read: true, Handle: func(w http.ResponseWriter, r *http.Request) {
		items := []map[string]any{}
		for _, u := range reg.List() {
			items = append(items, map[string]any{"id": u.Name, "name": u.Name, "description": u.Description, "params": u.Params, "read": u.Read})
		}
		api.WriteJSON(w, http.StatusOK, List(items))
	}}
	// unit/call may call any unit, writes included: POST only.
	v["unit/call"] = api.Verb{Handle: func(w http.ResponseWriter, r *http.Request) {
		p, err := params(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		name := String(p, "unit", "name")
		args, err := Map(p, "params")
		if err != nil {
			api.WriteError(w, err)
			return
		}
		out, err := reg.Call(r.Context(), env, name, args)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, out)
	}}
	return v
}

// params merges the query string and a JSON object body.
func params(r *http.Request) (map[string]any, error) {
	p := map[string]any{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			p[k] = vs[len(vs)-1]
		}
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return p, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBody+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || len(b) > api.MaxBody {
		return nil, &api.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "request body is over the 1 MiB limit"}
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return p, nil
	}
	body := map[string]any{}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, &api.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "bad JSON: " + err.Error()}
	}
	for k, v := range body {
		p[k] = v
	}
	return p, nil
}
