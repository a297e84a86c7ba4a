package unit

import (
	"net/http"

	"strings"

	"github.com/invopop/jsonschema"

	"github.com/aima-dev/aima/agent/api"
)

// Path is the HTTP path of a unit: "model.create" is /api/model/create;
// the units of the state directory as a whole ("state.diff") drop their
// domain: /api/diff.
func Path(name string) string {
	domain, verb, _ := strings.Cut(name, ".")
	if domain == "state" {
		return "/api/" + verb
	}
	return "/api/" + domain + "/" + verb
}

// routeKey is Path without /api/, as api.Options.Verbs keys it.
func routeKey(name string) string { return strings.TrimPrefix(Path(name), "/api/") }

// Verbs are the HTTP routes of the registry, one per unit (a read at GET and
// POST, a write at POST only), plus GET /api/unit/list (the registry, with
// schemas), POST /api/unit/call {"unit": NAME, "params": {...}} and GET
// /api/openapi.json. Parameters come from the query string and a JSON
// object body (body fields win); an If-Match header is the revision a
// write expects. A create answers 201 with Location; an answer carrying a
// revision sets ETag.
func Verbs(env *Env, reg *Registry) map[string]api.Verb {
	v := map[string]api.Verb{}
	for _, u := range reg.List() {
		v[routeKey(u.Name)] = api.Verb{Read: u.Read, Handle: func(w http.ResponseWriter, r *http.Request) {
			p, err := params(r)
			if err != nil {
				api.WriteError(w, err)
				return
			}
			out, err := reg.Call(r.Context(), env, u.Name, p)
			if err != nil {
				api.WriteError(w, err)
				return
			}
			code := http.StatusOK
			if strings.HasSuffix(u.Name, ".create") {
				code = http.StatusCreated
				if name, ok := out["name"].(string); ok {
					w.Header().Set("Location", Path(strings.TrimSuffix(u.Name, ".create")+".get")+"?id="+name)
				}
			}
			if rev, ok := out["revision"].(string); ok && rev != "" {
				w.Header().Set("ETag", `"`+rev+`"`)
			}
			api.WriteJSON(w, code, out)
		}}
	}
	v["status/list"] = v[routeKey("state.status")] // the status domain answers list like every other
	v["unit/list"] = api.Verb{Read: true, Handle: func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, Catalog(reg))
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
	v["openapi.json"] = api.Verb{Read: true, Handle: func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, OpenAPI(reg))
	}}
	return v
}

// Catalog is GET /api/unit/list: every unit with its description, whether
// it reads or writes, its HTTP route and the JSON Schemas of its request
// and answer.
func Catalog(reg *Registry) map[string]any {
	items := []map[string]any{}
	for _, u := range reg.List() {
		method := "POST"
		if u.Read {
			method = "GET"
		}
		it := map[string]any{"id": u.Name, "name": u.Name, "description": u.Description, "read": u.Read,
			"route": method + " " + Path(u.Name), "request": u.InputSchema(), "response": Schema(u.Response)}
		if len(u.Params) > 0 {
			it["params"] = u.Params
		}
		items = append(items, it)
	}
	return List(items)
}

// params merges the query string and a JSON object body; If-Match is the
// revision a write expects unless the body says one.
func params(r *http.Request) (map[string]any, error) {
	p := map[string]any{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			p[k] = vs[len(vs)-1]
		}
	}
	if r.Method == http.MethodPost {
		body, err := api.DecodeBody(r)
		if err != nil {
			return nil, err
		}
		for k, v := range body {
			p[k] = v
		}
	}
	if h := strings.TrimSpace(r.Header.Get("If-Match")); h != "" && h != "*" {
		if _, ok := p["revision"]; !ok {
			p["revision"] = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
		}
	}
	return p, nil
}

// InputSchema is the JSON Schema of the unit's request: RequestSchema, else
// Request's (the HTTP routes, the OpenAPI document and the MCP tools show
// it).
func (u Unit) InputSchema() *jsonschema.Schema {
	if u.RequestSchema != nil {
		return u.RequestSchema
	}
	return Schema(u.Request)
}
