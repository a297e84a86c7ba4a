package unit

import (
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"
)

// OpenAPI is the OpenAPI 3.1 document of the HTTP API (GET
// /api/openapi.json, `aima api openapi`), generated from the registry: one
// operation per unit (a read at GET with its parameters in the query, and
// at POST with a JSON body; a write at POST), plus the routes that are not
// units (health, metrics, the OpenAI-compatible gateway).
func OpenAPI(reg *Registry) map[string]any {
	paths := map[string]map[string]any{}
	add := func(path, method string, op map[string]any) {
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	for _, u := range reg.List() {
		domain, _, _ := strings.Cut(u.Name, ".")
		ok := "200"
		if strings.HasSuffix(u.Name, ".create") {
			ok = "201"
		}
		op := func(method string) map[string]any {
			o := map[string]any{
				"operationId": strings.ReplaceAll(u.Name, ".", "_") + map[bool]string{true: "_post", false: ""}[u.Read && method == http.MethodPost],
				"summary":     u.Description,
				"tags":        []string{domain},
				"responses": map[string]any{
					ok:        map[string]any{"description": "the answer", "content": jsonContent(Schema(u.Response))},
					"default": map[string]any{"$ref": "#/components/responses/Error"},
				},
			}
			if method == http.MethodGet {
				if ps := queryParams(u.Request); len(ps) > 0 {
					o["parameters"] = ps
				}
			} else {
				o["requestBody"] = map[string]any{"required": !u.Read, "content": jsonContent(u.InputSchema())}
			}
			return o
		}
		if u.Read {
			add(Path(u.Name), http.MethodGet, op(http.MethodGet))
		}
		add(Path(u.Name), http.MethodPost, op(http.MethodPost))
	}
	object := &jsonschema.Schema{Type: "object"}
	static := func(path, method, id, summary string) {
		o := map[string]any{"operationId": id, "summary": summary, "tags": []string{"aima"},
			"responses": map[string]any{"200": map[string]any{"description": "the answer", "content": jsonContent(object)}, "default": map[string]any{"$ref": "#/components/responses/Error"}}}
		if method == http.MethodPost {
			o["requestBody"] = map[string]any{"required": true, "content": jsonContent(object)}
		}
		add(path, method, o)
	}
	static("/api/unit/list", http.MethodGet, "unit_list", "Every operation: description, read or write, route, request and answer schemas")
	static("/api/unit/call", http.MethodPost, "unit_call", `Call an operation by name: {"unit": "model.list", "params": {...}}`)
	static("/api/openapi.json", http.MethodGet, "openapi", "This document")
	static("/v1/models", http.MethodGet, "openai_models", "OpenAI-compatible: the models served by running services")
	static("/v1/chat/completions", http.MethodPost, "openai_chat_completions", "OpenAI-compatible chat, routed to a running service of the model (streaming with stream: true)")
	static("/v1/completions", http.MethodPost, "openai_completions", "OpenAI-compatible completions, routed by model")
	static("/v1/embeddings", http.MethodPost, "openai_embeddings", "OpenAI-compatible embeddings, routed by model")
	static("/api/agent/chat", http.MethodPost, "agent_chat", `The operator, one turn: {"message", "llm", "conversation", "yes", "max_rounds"}; answers server-sent events: start, tool (each call and its result), answer or stop, done (the result)`)
	static("/mcp", http.MethodPost, "mcp", "Model Context Protocol, Streamable HTTP (JSON-RPC): every operation as a tool <domain>_<verb>, the state files as resources, the enabled skills as prompts")
	static("/mcp", http.MethodGet, "mcp_stream", "The MCP session's stream of notifications (Accept: text/event-stream, Mcp-Session-Id)")
	add("/api/events", http.MethodGet, map[string]any{"operationId": "events", "tags": []string{"aima"},
		"summary":   "Server-sent events of what the agent notices: status (an object's observed status changed), commit, pass (a sync pass, with its plan), alert; the web page and aima status --watch read it",
		"responses": map[string]any{"200": map[string]any{"description": "event: <type>, data: <JSON>, beginning with hello", "content": map[string]any{"text/event-stream": map[string]any{}}}, "default": map[string]any{"$ref": "#/components/responses/Error"}}})
	static("/api/ui/code", http.MethodPost, "ui_code", "A one-time sign-in code for the web page (aima ui): good once, for two minutes; the owner's token only, never a session")
	static("/api/ui/logout", http.MethodPost, "ui_logout", "Sign the web page's session out")
	add("/ui/login", http.MethodGet, map[string]any{"operationId": "ui_login", "tags": []string{"aima"}, "security": []any{},
		"summary":    "Trade a sign-in code (?code=) for the web page's session: a cookie (HttpOnly, SameSite=Strict) and a key in the redirect's fragment; 303 to /ui/",
		"parameters": []map[string]any{{"name": "code", "in": "query", "required": true, "schema": map[string]any{"type": "string"}}},
		"responses":  map[string]any{"303": map[string]any{"description": "signed in: to /ui/#session=<key>"}, "default": map[string]any{"$ref": "#/components/responses/Error"}}})
	health := map[string]any{"operationId": "health", "summary": "Liveness; needs no token", "security": []any{}, "tags": []string{"aima"},
		"responses": map[string]any{"200": map[string]any{"description": "ok", "content": jsonContent(object)}}}
	add("/health", http.MethodGet, health)
	add("/metrics", http.MethodGet, map[string]any{"operationId": "metrics", "summary": "Prometheus metrics", "tags": []string{"aima"},
		"responses": map[string]any{"200": map[string]any{"description": "Prometheus text format", "content": map[string]any{"text/plain": map[string]any{}}}}})

	errSchema := &jsonschema.Schema{Type: "object", Required: []string{"error"}}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "aima", "version": "1",
			"description": "aima's HTTP API: every operation of the registry (GET for reads, POST with Content-Type: application/json for writes), behind a bearer token (.aima/.local/token)."},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"responses": map[string]any{"Error": map[string]any{
				"description": `{"error": {"code", "message", "details"}}: 400 bad JSON, 401 token, 403 origin, 404, 405, 409, 413, 415, 421 host, 422 invalid (details name the fields), 503 unavailable`,
				"content":     jsonContent(errSchema)}},
		},
	}
}

func jsonContent(s *jsonschema.Schema) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": s}}
}

// queryParams are a read unit's parameters as query parameters.
func queryParams(t reflect.Type) []map[string]any {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	s := Schema(t)
	var out []map[string]any
	if s.Properties == nil {
		return nil
	}
	req := map[string]bool{}
	for _, r := range s.Required {
		req[r] = true
	}
	for p := s.Properties.Oldest(); p != nil; p = p.Next() {
		out = append(out, map[string]any{"name": p.Key, "in": "query", "required": req[p.Key], "description": p.Value.Description, "schema": p.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
	return out
}
