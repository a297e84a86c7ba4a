package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/internal/testenv"
)

// The doors of the registry of units: the command line and the HTTP API
// call the same units, so `aima <kind> list|get -o json` and the API's
// answers are the same JSON, and the OpenAPI document describes every
// route the agent serves.

// decodeJSON decodes a JSON answer into generic values (so key order does
// not matter) without the fields that change by the second ("since").
func decodeJSON(t *testing.T, what string, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	return dropSince(v)
}

func dropSince(v any) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "since")
		for _, e := range v {
			dropSince(e)
		}
	case []any:
		for _, e := range v {
			dropSince(e)
		}
	}
	return v
}

// sameAnswer compares the CLI's -o json with the API's answer to a GET,
// asking again a few times while they differ: an observed field (health,
// restarts) may change between the two reads.
func (e *aimaEnv) sameAnswer(args []string, path string) {
	e.t.Helper()
	waitUntil(e.t, 5*time.Second, "aima "+strings.Join(args, " ")+" and GET "+path+" agree (-api +cli)", func() (bool, string) {
		cli := decodeJSON(e.t, "aima "+strings.Join(args, " "), []byte(e.mustAima(args...)))
		code, b, err := e.call("GET", path, "")
		if err != nil || code != http.StatusOK {
			e.t.Fatalf("GET %s: %d %v %s", path, code, err, b)
		}
		diff := cmp.Diff(decodeJSON(e.t, "GET "+path, b), cli)
		return diff == "", diff
	})
}

// TestDoorsListGetSameJSON: with an agent running and an object of every
// kind (a stub service running, so services carry observed status), the
// CLI's list and get print exactly what the API answers, for all nine
// kinds; create and delete answers agree too (up to the name).
func TestDoorsListGetSameJSON(t *testing.T) {
	e := newAimaEnv(t, 2)
	agentProc := e.startAgent()
	pipeline := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(pipeline, []byte("name: nightly\ndescription: list what is there\nsteps:\n  - id: models\n    unit: model.list\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{
		"model": "tiny", "engine": "myvllm", "service": "chat", "app": "web", "catalog": "rec",
		"skill": "tips", "pipeline": "nightly", "alert": "hot", "resource": "gpu0",
	}
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama", "--labels", "tier=test")
	e.mustAima("engine", "create", "--name", "myvllm", "--type", "vllm", "--image", "vllm/vllm-openai:v0.6.4", "--port", "8000", "--gpu", "required")
	e.mustAima("service", "create", "--name", "chat", "--model-id", "tiny", "--engine-type", "stub")
	e.mustAima("app", "create", "--name", "web", "--image", testenv.StubImage(t), "--state", "stopped", "--env", "A=1")
	e.mustAima("catalog", "create", "--name", "rec", "--description", "a recipe", "--engine-type", "stub", "--hardware-min-vram-gb", "8")
	e.mustAima("skill", "create", "--name", "tips", "--description", "GPU tips", "--keywords", "gpu", "--content", "# Tips")
	e.mustAima("pipeline", "create", "-f", pipeline)
	e.mustAima("alert", "create", "--name", "hot", "--condition", "gpu_temp > 80", "--severity", "critical")
	e.mustAima("resource", "create", "--name", "gpu0", "--type", "gpu_memory", "--limit", "24g", "--applies-to", "chat")
	e.waitStatus("chat", "running", 90*time.Second)
	waitUntil(t, 15*time.Second, "app web stopped", func() (bool, string) {
		code, b, err := e.call("GET", "/api/app/get?id=web", "")
		var app struct{ Status string }
		return err == nil && code == http.StatusOK && json.Unmarshal(b, &app) == nil && app.Status == "stopped", string(b)
	})

	kinds := make([]string, 0, len(names))
	for k := range names {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		e.sameAnswer([]string{kind, "list", "-o", "json"}, "/api/"+kind+"/list")
		e.sameAnswer([]string{kind, "get", names[kind], "-o", "json"}, "/api/"+kind+"/get?id="+url.QueryEscape(names[kind]))
	}
	// The whole state's status, and the history, likewise.
	e.sameAnswer([]string{"status", "-o", "json"}, "/api/status")
	e.sameAnswer([]string{"diff", "-o", "json"}, "/api/diff")
	e.sameAnswer([]string{"log", "-n", "5", "-o", "json"}, "/api/log?n=5")
	// A service's observed fields are there, from the agent.
	chat := e.mustAima("service", "get", "chat", "-o", "json")
	if !strings.Contains(chat, `"status": "running"`) || !strings.Contains(chat, `"endpoint"`) {
		t.Errorf("aima service get chat has no observed status:\n%s", chat)
	}

	// Writes: the same answer, but for the name (and the revision, the
	// content's hash, which holds the name).
	norm := func(what string, b []byte, name string) any {
		s := strings.ReplaceAll(string(b), `"`+name+`"`, `"NAME"`)
		v := decodeJSON(t, what, []byte(s))
		if m, ok := v.(map[string]any); ok {
			delete(m, "revision")
		}
		return v
	}
	cliCreated := norm("cli create", []byte(e.mustAima("alert", "create", "--name", "from-cli", "--condition", "mem_used_pct > 90", "-o", "json")), "from-cli")
	code, b, err := e.call("POST", "/api/alert/create", `{"name": "from-api", "condition": "mem_used_pct > 90"}`)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /api/alert/create: %d %v %s", code, err, b)
	}
	if diff := cmp.Diff(norm("api create", b, "from-api"), cliCreated); diff != "" {
		t.Errorf("create answers differ (-api +cli):\n%s", diff)
	}
	cliDeleted := norm("cli delete", []byte(e.mustAima("alert", "delete", "from-cli", "-o", "json")), "from-cli")
	code, b, err = e.call("POST", "/api/alert/delete", `{"id": "from-api"}`)
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST /api/alert/delete: %d %v %s", code, err, b)
	}
	if diff := cmp.Diff(norm("api delete", b, "from-api"), cliDeleted); diff != "" {
		t.Errorf("delete answers differ (-api +cli):\n%s", diff)
	}

	// With an agent running, the CLI prints its status and diff; without
	// one it derives them in process, through the same units: the same
	// answers, but for what only a running agent says of itself.
	agentOnly := func(what string, b []byte) any {
		v := decodeJSON(t, what, b)
		if m, ok := v.(map[string]any); ok {
			for _, k := range []string{"agent", "version", "follow"} {
				delete(m, k)
			}
		}
		return v
	}
	cases := []struct {
		path string
		args []string
		api  any
	}{
		{path: "/api/status", args: []string{"status", "-o", "json"}},
		{path: "/api/diff", args: []string{"diff", "-o", "json"}},
	}
	for i, c := range cases {
		code, b, err := e.call("GET", c.path, "")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", c.path, code, err, b)
		}
		cases[i].api = agentOnly("GET "+c.path, b)
	}
	agentProc.kill()
	for _, c := range cases {
		cli := agentOnly("aima "+c.args[0]+" in process", []byte(e.mustAima(c.args...)))
		if diff := cmp.Diff(c.api, cli); diff != "" {
			t.Errorf("GET %s (agent) and aima %s without an agent differ (-api +cli):\n%s", c.path, c.args[0], diff)
		}
	}
	e.checkGit(false)
}

// TestOpenAPIDescribesEveryRoute: every unit of GET /api/unit/list is an
// operation of GET /api/openapi.json at its route, a read at GET and POST, a
// write at POST only; every path of the document answers its methods (not
// "no such route", not 405); a path without GET answers GET with 405. The
// CLI prints the same two documents (aima pipeline units, aima api openapi).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")

	code, b, err := e.call("GET", "/api/unit/list", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/unit/list: %d %v %s", code, err, b)
	}
	if diff := cmp.Diff(decodeJSON(t, "GET /api/unit/list", b), decodeJSON(t, "aima pipeline units", []byte(e.mustAima("pipeline", "units", "-o", "json")))); diff != "" {
		t.Errorf("aima pipeline units -o json and GET /api/unit/list differ (-api +cli):\n%s", diff)
	}
	var units struct {
		Items []struct {
			Name  string `json:"name"`
			Read  bool   `json:"read"`
			Route string `json:"route"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &units); err != nil {
		t.Fatal(err)
	}
	code, b, err = e.call("GET", "/api/openapi.json", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json: %d %v %s", code, err, b)
	}
	if diff := cmp.Diff(decodeJSON(t, "GET /api/openapi.json", b), decodeJSON(t, "aima api openapi", []byte(e.mustAima("api", "openapi")))); diff != "" {
		t.Errorf("aima api openapi and GET /api/openapi.json differ (-api +cli):\n%s", diff)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if len(units.Items) < 45 {
		t.Fatalf("only %d units", len(units.Items))
	}

	for _, u := range units.Items {
		method, path, _ := strings.Cut(u.Route, " ")
		want := []string{"post"}
		if u.Read {
			want = []string{"get", "post"}
		}
		if wantMethod := map[bool]string{true: "GET", false: "POST"}[u.Read]; method != wantMethod {
			t.Errorf("unit %s: route %q, want %s (read %v)", u.Name, u.Route, wantMethod, u.Read)
		}
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("unit %s: %s is not in the OpenAPI document", u.Name, path)
			continue
		}
		var got []string
		for m := range ops {
			got = append(got, m)
		}
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("unit %s: methods of %s in the document (-want +got):\n%s", u.Name, path, diff)
		}
	}

	// Every path answers its methods. A POST carries a parameter no unit
	// takes, so typed units refuse it before doing anything.
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		ops := doc.Paths[path]
		if stream(ops["get"]) { // an event stream never ends: its status is the answer
			req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+path, nil)
			e.authorize(req)
			resp, err := apiClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s (an event stream in the document): %v %v", path, err, resp)
			}
			if err == nil {
				resp.Body.Close()
			}
			continue
		}
		for method := range ops {
			body := ""
			if method == "post" {
				body = `{"openapi_probe": true}`
			}
			code, h, answer := e.raw(rawReq{method: strings.ToUpper(method), path: path, body: body, header: map[string]string{"Content-Type": "application/json"}, auth: true})
			if code == http.StatusMethodNotAllowed || code == http.StatusNotFound && strings.Contains(answer, "no such route") {
				t.Errorf("%s %s (in the document): %d Allow=%q %.300s", strings.ToUpper(method), path, code, h.Get("Allow"), answer)
			}
		}
		if _, ok := ops["get"]; !ok {
			if code, h, answer := e.raw(rawReq{method: "GET", path: path, auth: true}); code != http.StatusMethodNotAllowed || !strings.Contains(h.Get("Allow"), "POST") {
				t.Errorf("GET %s (POST only in the document): %d Allow=%q %.300s, want 405 Allow: POST", path, code, h.Get("Allow"), answer)
			}
		}
	}
}

// stream reports whether an OpenAPI operation answers an event stream.
func stream(op map[string]any) bool {
	b, _ := json.Marshal(op["responses"])
	return strings.Contains(string(b), "text/event-stream")
}
