package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// env is a server over a real listener and a real state directory.
type env struct {
	t     *testing.T
	dir   string
	st    *state.Store
	srv   *api.Server
	ts    *httptest.Server
	token string
}

func newEnv(t *testing.T, opts api.Options, withEnv ...func(*unit.Env)) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".aima")
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	// The operations come from the registry, as in the agent; a test's own
	// verbs replace those of the same path.
	uenv := &unit.Env{Store: st}
	for _, f := range withEnv {
		f(uenv)
	}
	verbs := unit.Verbs(uenv, unit.Default)
	for k, v := range opts.Verbs {
		verbs[k] = v
	}
	opts.Verbs = verbs
	srv := api.New(opts)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, dir: dir, st: st, srv: srv, ts: ts, token: opts.Token}
}

// reply is one decoded answer.
type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path, body string, header ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := reply{code: resp.StatusCode, header: resp.Header, raw: string(b)}
	if path != "/metrics" {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			e.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
		}
		if err := json.Unmarshal(b, &r.body); err != nil {
			e.t.Errorf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, b)
		}
	}
	return r
}

// must asserts the status code of an answer.
func (r reply) must(t *testing.T, code int) reply {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %.500s", r.code, code, r.raw)
	}
	return r
}

func (r reply) items() []map[string]any {
	raw, _ := r.body["items"].([]any)
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		out[i], _ = it.(map[string]any)
	}
	return out
}

func (r reply) names() []string {
	var out []string
	for _, it := range r.items() {
		out = append(out, fmt.Sprint(it["name"]))
	}
	return out
}

func (r reply) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	return fmt.Sprint(e["code"])
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func checkRepo(t *testing.T, dir string) {
	t.Helper()
	if out := git(t, dir, "fsck", "--strict", "--no-progress"); strings.TrimSpace(out) != "" {
		t.Errorf("git fsck: %s", out)
	}
	if out := git(t, dir, "status", "--porcelain"); strings.TrimSpace(out) != "" {
		t.Errorf("git status not clean:\n%s", out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestEveryDomain(t *testing.T) {
	e := newEnv(t, api.Options{})
	// In dependency order: the service needs the model and the engine.
	tests := []struct {
		domain string
		create string
		update string // sets field to want
		field  string
		want   any
		kept   string // a field the update must keep
	}{
		{"model", `{"name": "m1", "source": "ollama", "repo": "tinyllama", "tag": "latest"}`, `{"name": "m1", "tag": "q4_0"}`, "tag", "q4_0", "repo"},
		{"engine", `{"name": "e1", "type": "stub", "image": "busybox:1", "port": 8080}`, `{"id": "e1", "port": 9000}`, "port", 9000.0, "image"},
		{"service", `{"name": "s1", "model": "m1", "engine": "e1", "port": 18081}`, `{"name": "s1", "state": "stopped"}`, "state", "stopped", "model"},
		{"app", `{"name": "a1", "image": "ghcr.io/open-webui/open-webui:main", "ports": ["13000:8080"]}`, `{"name": "a1", "state": "stopped"}`, "state", "stopped", "image"},
		{"catalog", `{"name": "c1", "engine_type": "vllm", "hardware": {"gpu_vendor": "NVIDIA"}}`, `{"name": "c1", "verified": true}`, "verified", true, "engine_type"},
		{"skill", `{"name": "k1", "description": "d", "content": "hello"}`, `{"name": "k1", "category": "testing"}`, "category", "testing", "content"},
		{"pipeline", `{"name": "p1", "steps": [{"id": "a", "unit": "model.list"}]}`, `{"name": "p1", "description": "lists"}`, "description", "lists", "steps"},
		{"alert", `{"name": "al1", "condition": "gpu_temp > 80"}`, `{"name": "al1", "severity": "critical"}`, "severity", "critical", "condition"},
		{"resource", `{"name": "r1", "type": "memory", "limit": "24g"}`, `{"name": "r1", "priority": 5}`, "priority", 5.0, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			e.t = t
			created := e.do("POST", "/api/"+tt.domain+"/create", tt.create).must(t, http.StatusCreated)
			name := created.body["name"].(string)
			if created.body["id"] != name || created.body["revision"] == nil {
				t.Errorf("create answer lacks id or revision: %s", created.raw)
			}
			if !contains(e.do("GET", "/api/"+tt.domain+"/list", "").must(t, 200).names(), name) {
				t.Errorf("%s not in the list", name)
			}
			got := e.do("GET", "/api/"+tt.domain+"/get?id="+name, "").must(t, 200)
			kept := got.body[tt.kept]
			e.do("POST", "/api/"+tt.domain+"/update", tt.update).must(t, 200)
			got = e.do("GET", "/api/"+tt.domain+"/get?id="+name, "").must(t, 200)
			if diff := cmp.Diff(tt.want, got.body[tt.field]); diff != "" {
				t.Errorf("after update, %s (-want +got):\n%s", tt.field, diff)
			}
			if diff := cmp.Diff(kept, got.body[tt.kept]); diff != "" || kept == nil {
				t.Errorf("update lost %s (-before +after):\n%s", tt.kept, diff)
			}
		})
	}
	e.t = t
	for i := len(tests) - 1; i >= 0; i-- {
		d := tests[i].domain
		var created map[string]any
		_ = json.Unmarshal([]byte(tests[i].create), &created)
		name := created["name"].(string)
		e.do("POST", "/api/"+d+"/delete", `{"id": "`+name+`"}`).must(t, 200)
		if r := e.do("GET", "/api/"+d+"/get?id="+name, ""); r.code != 404 || r.errCode() != "not_found" {
			t.Errorf("%s/%s after delete: %d %s", d, name, r.code, r.raw)
		}
	}
	// create + update + delete per domain, and the init commit.
	if n := strings.Count(git(t, e.dir, "log", "--oneline"), "\n"); n != 1+3*len(tests) {
		t.Errorf("git log has %d commits, want %d", n, 1+3*len(tests))
	}
	checkRepo(t, e.dir)
}

// TestScenarioBodies sends the acceptance scenario's request bodies exactly
// as written there.
func TestScenarioBodies(t *testing.T) {
	e := newEnv(t, api.Options{})
	bodies := []struct{ domain, name, body string }{
		{"catalog", "restart-test-recipe", `{"name": "restart-test-recipe", "engine_type": "vllm", "hardware": {"gpu_vendor": "NVIDIA"}, "config": {}}`},
		{"skill", "restart-test-skill", `{"name": "restart-test-skill", "description": "Test skill for restart survival", "keywords": ["restart", "test"], "category": "testing", "content": "test content"}`},
		{"pipeline", "restart-test-pipeline", `{"name": "restart-test-pipeline", "steps": [{"id": "step1", "unit": "model.list", "depends_on": []}]}`},
		{"alert", "restart-test-alert", `{"name": "restart-test-alert", "condition": "gpu_temp > 80", "action": "notify"}`},
	}
	for _, b := range bodies {
		e.do("POST", "/api/"+b.domain+"/create", b.body).must(t, http.StatusCreated)
		if names := e.do("GET", "/api/"+b.domain+"/list", "").must(t, 200).names(); !contains(names, b.name) {
			t.Errorf("%s list %v lacks %s", b.domain, names, b.name)
		}
	}
	skills := e.do("GET", "/api/skill/list", "").must(t, 200)
	if int(skills.body["total"].(float64)) != len(skills.items()) {
		t.Errorf("total %v, items %d", skills.body["total"], len(skills.items()))
	}
	checkRepo(t, e.dir)
}

func TestServiceCreateLikeCLI(t *testing.T) {
	e := newEnv(t, api.Options{})
	e.do("POST", "/api/model/create", `{"name": "restart-test-model", "source": "ollama", "repo": "tinyllama"}`).must(t, 201)

	first := e.do("POST", "/api/service/create", `{"model_id": "restart-test-model", "engine_type": "stub"}`).must(t, 201)
	second := e.do("POST", "/api/service/create", `{"model_id": "restart-test-model", "engine_type": "stub"}`).must(t, 201)
	named := e.do("POST", "/api/service/create", `{"name": "chat", "model": "restart-test-model", "engine": "vllm", "port": 18555}`).must(t, 201)

	for _, c := range []struct {
		r            reply
		name, engine string
	}{
		{first, "restart-test-model-stub", "stub"},
		{second, "restart-test-model-stub-2", "stub"},
		{named, "chat", "vllm"},
	} {
		if c.r.body["name"] != c.name || c.r.body["engine"] != c.engine || c.r.body["model"] != "restart-test-model" {
			t.Errorf("created %s, want name %s engine %s", c.r.raw, c.name, c.engine)
		}
		if _, ok := c.r.body["model_id"]; ok {
			t.Errorf("alias kept in the object: %s", c.r.raw)
		}
		if p, _ := c.r.body["port"].(float64); p == 0 {
			t.Errorf("no port allocated: %s", c.r.raw)
		}
	}
	if first.body["port"] == second.body["port"] {
		t.Errorf("two services got port %v", first.body["port"])
	}

	r := e.do("POST", "/api/service/create", `{"model_id": "restart-test-model", "engine_type": "no-such-engine"}`).must(t, 422)
	if !strings.Contains(r.raw, `"field":"/engine"`) {
		t.Errorf("unknown engine type does not name /engine: %s", r.raw)
	}
	r = e.do("POST", "/api/service/create", `{"engine_type": "stub"}`).must(t, 422)
	if !strings.Contains(r.raw, `"field":"/model"`) {
		t.Errorf("missing model does not name /model: %s", r.raw)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, api.Options{Verbs: map[string]api.Verb{
		"service/stop": {Handle: func(w http.ResponseWriter, r *http.Request) {
			api.WriteError(w, fmt.Errorf("stop service: connect to docker: %w", api.ErrUnavailable))
		}},
	}})
	e.do("POST", "/api/model/create", `{"name": "m", "source": "ollama"}`).must(t, 201)
	e.do("POST", "/api/service/create", `{"name": "s", "model": "m", "engine": "stub", "port": 18777}`).must(t, 201)
	old := e.do("GET", "/api/model/get?id=m", "").must(t, 200).body["revision"].(string)
	e.do("POST", "/api/model/update", `{"name": "m", "tag": "v2", "revision": "`+old+`"}`).must(t, 200)
	big := `{"name": "big", "description": "` + strings.Repeat("x", 2<<20) + `"}`

	tests := []struct {
		name, method, path, body string
		header                   []string
		code                     int
		errCode                  string
		field                    string // a detail must name it
	}{
		{"bad json", "POST", "/api/model/create", `{"name": `, nil, 400, "bad_json", ""},
		{"not an object", "POST", "/api/model/create", `[1, 2]`, nil, 400, "bad_json", ""},
		{"empty body", "POST", "/api/alert/create", ``, nil, 422, "invalid", "/name"},
		{"unknown route", "GET", "/nope", "", nil, 404, "not_found", ""},
		{"unknown domain", "GET", "/api/widget/list", "", nil, 404, "not_found", ""},
		{"unknown verb", "POST", "/api/model/frobnicate", `{}`, nil, 404, "not_found", ""},
		{"unknown id", "GET", "/api/model/get?id=nope", "", nil, 404, "not_found", ""},
		{"delete unknown id", "POST", "/api/alert/delete", `{"id": "nope"}`, nil, 404, "not_found", ""},
		{"wrong method", "GET", "/api/model/create", "", nil, 405, "method_not_allowed", ""},
		{"wrong method on list", "DELETE", "/api/model/list", "", nil, 405, "method_not_allowed", ""},
		{"duplicate", "POST", "/api/model/create", `{"name": "m"}`, nil, 409, "exists", ""},
		{"stale revision in body", "POST", "/api/model/update", `{"name": "m", "tag": "v3", "revision": "` + old + `"}`, nil, 409, "conflict", ""},
		{"stale revision in If-Match", "POST", "/api/model/update", `{"name": "m", "tag": "v3"}`, []string{"If-Match", `"` + old + `"`}, 409, "conflict", ""},
		{"in use", "POST", "/api/model/delete", `{"name": "m"}`, nil, 409, "conflict", ""},
		{"too large", "POST", "/api/skill/create", big, nil, 413, "too_large", ""},
		{"schema", "POST", "/api/engine/create", `{"name": "e", "image": "x", "port": 70000}`, nil, 422, "invalid", "/port"},
		{"unknown field", "POST", "/api/alert/create", `{"name": "a", "condition": "x > 1", "colour": "red"}`, nil, 422, "invalid", ""},
		{"missing required", "POST", "/api/alert/create", `{"name": "a"}`, nil, 422, "invalid", "/condition"},
		{"bad name", "POST", "/api/model/create", `{"name": "../etc"}`, nil, 422, "invalid", "/name"},
		{"bad id in get", "GET", "/api/model/get?id=Bad..Name", "", nil, 422, "invalid", "/name"},
		{"update without name", "POST", "/api/model/update", `{"tag": "x"}`, nil, 422, "invalid", "/name"},
		{"engine not a string", "POST", "/api/service/create", `{"model_id": "m", "engine": 5}`, nil, 422, "invalid", "/engine"},
		{"docker down", "POST", "/api/service/stop", `{"id": "s"}`, nil, 503, "unavailable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			r := e.do(tt.method, tt.path, tt.body, tt.header...)
			if r.code != tt.code || r.errCode() != tt.errCode {
				t.Fatalf("got %d %s, want %d %s: %.300s", r.code, r.errCode(), tt.code, tt.errCode, r.raw)
			}
			errObj := r.body["error"].(map[string]any)
			if msg, _ := errObj["message"].(string); msg == "" {
				t.Errorf("no message: %s", r.raw)
			}
			if _, ok := errObj["details"].([]any); !ok {
				t.Errorf("details is not a list: %s", r.raw)
			}
			if tt.field != "" && !strings.Contains(r.raw, `"field":"`+tt.field+`"`) {
				t.Errorf("details do not name %s: %s", tt.field, r.raw)
			}
			if tt.code == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
	e.t = t
	// Nothing invalid was written.
	if got := e.do("GET", "/api/model/get?id=m", "").must(t, 200).body["tag"]; got != "v2" {
		t.Errorf("tag %v after refused updates, want v2", got)
	}
	checkRepo(t, e.dir)
}

func TestToken(t *testing.T) {
	e := newEnv(t, api.Options{Token: "s3cret"})
	e.do("GET", "/api/model/list", "").must(t, 200)
	e.token = ""
	e.do("GET", "/health", "").must(t, 200)
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}} {
		r := e.do("GET", "/api/model/list", "", hdr...)
		if r.code != 401 || r.errCode() != "unauthorized" {
			t.Errorf("with %v: %d %s", hdr, r.code, r.raw)
		}
	}
	if r := e.do("POST", "/api/model/create", `{"name": "x"}`); r.code != 401 {
		t.Errorf("unauthenticated create: %d", r.code)
	}
	if r := e.do("GET", "/metrics", ""); r.code != 401 {
		t.Errorf("unauthenticated metrics: %d", r.code)
	}
	// A write with the token is committed by "api".
	e.token = "s3cret"
	e.do("POST", "/api/model/create", `{"name": "x"}`).must(t, 201)
	if got := git(t, e.dir, "log", "-1", "--format=%an"); strings.TrimSpace(got) != "api" {
		t.Errorf("author %q, want api", got)
	}
}

// TestNamedTokens: with NAME=SECRET tokens each secret is accepted, a
// write commits as its token's name, X-Aima-Author cannot change that (it
// becomes an On-behalf-of trailer: no token holder commits as someone
// else), and a bad token spec is refused before anything serves.
func TestNamedTokens(t *testing.T) {
	e := newEnv(t, api.Options{Token: "ci=c1-secret, ada=ada-secret"})
	e.token = "wrong"
	if r := e.do("GET", "/api/model/list", ""); r.code != 401 {
		t.Errorf("wrong token: %d", r.code)
	}
	e.token = "c1-secret"
	e.do("POST", "/api/model/create", `{"name": "by-ci"}`).must(t, 201)
	e.token = "ada-secret"
	e.do("POST", "/api/model/create", `{"name": "by-ada"}`).must(t, 201)
	e.do("POST", "/api/model/create", `{"name": "by-header"}`, "X-Aima-Author", "aima-agent <aima@localhost>").must(t, 201)
	if got := strings.TrimSpace(git(t, e.dir, "log", "-3", "--format=%an|%s")); got != "ada|model create: by-header\nada|model create: by-ada\nci|model create: by-ci" {
		t.Errorf("authors:\n%s", got)
	}
	if got := strings.TrimSpace(git(t, e.dir, "log", "-1", "--format=%(trailers:key=On-behalf-of,valueonly)")); got != "aima-agent <aima@localhost>" {
		t.Errorf("On-behalf-of trailer %q, want the X-Aima-Author header", got)
	}
	for _, bad := range []string{"=x", "a=", "a=,=b"} {
		if err := api.CheckBind("0.0.0.0:9090", bad); err == nil || !strings.Contains(err.Error(), "token") {
			t.Errorf("token %q: %v, want a token error", bad, err)
		}
	}
	if err := api.CheckBind("0.0.0.0:9090", "ci=x"); err != nil {
		t.Errorf("named token refused: %v", err)
	}
}

func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t, api.Options{})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"name": "m%02d", "source": "ollama", "repo": "r%d"}`, i, i)
			resp, err := http.Post(e.ts.URL+"/api/model/create", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				errs <- fmt.Sprintf("%d %s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	list := e.do("GET", "/api/model/list", "").must(t, 200)
	if got := list.body["total"]; got != float64(n) {
		t.Errorf("total %v, want %d", got, n)
	}
	if got := len(list.names()); got != n {
		t.Errorf("%d items, want %d", got, n)
	}
	if got := strings.Count(git(t, e.dir, "log", "--oneline"), "\n"); got != n+1 {
		t.Errorf("%d commits, want %d (init + %d)", got, n+1, n)
	}
	checkRepo(t, e.dir)
}

func TestUpdateMerge(t *testing.T) {
	var triggered atomic.Int32
	e := newEnv(t, api.Options{}, func(env *unit.Env) { env.Kick = func() { triggered.Add(1) } })
	e.do("POST", "/api/model/create", `{"name": "m", "source": "huggingface", "repo": "Qwen/Qwen2.5-7B", "tag": "main", "labels": {"a": "1", "b": "2"}}`).must(t, 201)
	got := e.do("POST", "/api/model/update", `{"id": "m", "tag": "v1", "labels": {"b": null, "c": "3"}}`).must(t, 200)
	want := map[string]any{"name": "m", "id": "m", "source": "huggingface", "repo": "Qwen/Qwen2.5-7B", "tag": "v1",
		"labels": map[string]any{"a": "1", "c": "3"}, "revision": got.body["revision"]}
	if diff := cmp.Diff(want, got.body); diff != "" {
		t.Errorf("merged object (-want +got):\n%s", diff)
	}
	got = e.do("POST", "/api/model/update", `{"name": "m", "tag": null, "revision": "`+got.body["revision"].(string)+`"}`).must(t, 200)
	if _, ok := got.body["tag"]; ok {
		t.Errorf("null did not remove tag: %s", got.raw)
	}
	// A refused update changes nothing.
	e.do("POST", "/api/model/update", `{"name": "m", "source": "floppy"}`).must(t, 422)
	if r := e.do("GET", "/api/model/get?id=m", "").must(t, 200); r.body["source"] != "huggingface" {
		t.Errorf("source %v after a refused update", r.body["source"])
	}
	// Editing a built-in engine writes an override that list shows as a file.
	e.do("POST", "/api/engine/update", `{"name": "stub", "labels": {"edited": "yes"}}`).must(t, 200)
	for _, it := range e.do("GET", "/api/engine/list", "").must(t, 200).items() {
		if it["name"] == "stub" && it["source"] != "file" {
			t.Errorf("edited built-in has source %v", it["source"])
		}
	}
	// The get → edit → update round trip works with the read-only fields.
	eng := e.do("GET", "/api/engine/get?id=stub", "").must(t, 200).body
	eng["port"] = 9999
	b, _ := json.Marshal(eng)
	e.do("POST", "/api/engine/update", string(b)).must(t, 200)
	if got := triggered.Load(); got != 5 {
		t.Errorf("trigger called %d times, want 5 (one per successful write)", got)
	}
}

func TestAuthorHeader(t *testing.T) {
	e := newEnv(t, api.Options{})
	e.do("POST", "/api/alert/create", `{"name": "a", "condition": "gpu_temp > 80"}`, "X-Aima-Author", "Ada Lovelace <ada@example.com>").must(t, 201)
	if got := strings.TrimSpace(git(t, e.dir, "log", "-1", "--format=%an <%ae>")); got != "Ada Lovelace <ada@example.com>" {
		t.Errorf("author %q", got)
	}
	e.do("POST", "/api/alert/delete", `{"id": "a"}`).must(t, 200)
	if got := strings.TrimSpace(git(t, e.dir, "log", "-1", "--format=%an")); got != "api" {
		t.Errorf("author without header %q, want api", got)
	}
	e.do("POST", "/api/alert/create", `{"name": "b", "condition": "x > 1"}`, "X-Aima-Author", "Eve <eve@x").must(t, 400)
}

func TestObservedStatus(t *testing.T) {
	e := newEnv(t, api.Options{}, func(env *unit.Env) {
		env.Observed = func(ctx context.Context) func(kind, name string) map[string]any {
			return func(kind, name string) map[string]any {
				return map[string]any{"status": "running", "container": "c-" + name, "model": "not-this"}
			}
		}
		env.Problems = func() []state.Problem {
			return []state.Problem{{File: "models/bad.yaml", Field: "/port", Message: "x"}}
		}
	})
	e.do("POST", "/api/model/create", `{"name": "m"}`).must(t, 201)
	e.do("POST", "/api/service/create", `{"model_id": "m", "engine_type": "stub", "port": 18999}`).must(t, 201)
	items := e.do("GET", "/api/service/list", "").must(t, 200).items()
	if len(items) != 1 || items[0]["status"] != "running" || items[0]["container"] != "c-m-stub" || items[0]["model"] != "m" {
		t.Errorf("service items %v", items)
	}
	if got := e.do("GET", "/api/service/get?id=m-stub", "").must(t, 200).body["status"]; got != "running" {
		t.Errorf("get status %v", got)
	}
	st := e.do("GET", "/api/status", "").must(t, 200)
	if st.body["invalid"] != 1.0 || st.body["last_commit"] == nil {
		t.Errorf("status %s", st.raw)
	}
	if kinds := st.body["kinds"].(map[string]any); kinds["service"] != 1.0 || kinds["model"] != 1.0 {
		t.Errorf("kinds %v", kinds)
	}
	e.do("GET", "/api/status/list", "").must(t, 200)
	inf := e.do("GET", "/api/inference/list", "").must(t, 200)
	if inf.body["total"] != 1.0 || inf.items()[0]["model"] != "m" {
		t.Errorf("inference list %s", inf.raw)
	}
}

func TestLiveDomains(t *testing.T) {
	e := newEnv(t, api.Options{})
	d := e.do("GET", "/api/device/detect", "").must(t, 200)
	if _, ok := d.body["gpus"].([]any); !ok || d.body["gpu"] == nil || d.body["cpus"] == nil {
		t.Errorf("device: %s", d.raw)
	}
	if e.do("GET", "/api/device/list", "").must(t, 200).body["total"] != 1.0 {
		t.Errorf("device list is not one machine")
	}
	if r := e.do("GET", "/api/agent/list", "").must(t, 200); r.body["total"] != 0.0 || r.body["note"] == nil {
		t.Errorf("agent list %s", r.raw)
	}
	if r := e.do("GET", "/api/remote/list", "").must(t, 200); r.body["total"] != 0.0 {
		t.Errorf("remote list %s", r.raw)
	}
	git(t, e.dir, "remote", "add", "origin", "https://deploy:s3cret-token@example.com/state.git")
	if r := e.do("GET", "/api/remote/list", "").must(t, 200); r.body["total"] != 1.0 || r.items()[0]["name"] != "origin" ||
		strings.Contains(string(r.raw), "s3cret") || !strings.Contains(string(r.raw), "deploy:xxxxx@example.com") {
		t.Errorf("remote list (the password must be redacted) %s", r.raw)
	}
	e.do("GET", "/health", "").must(t, 200)

	e.do("POST", "/api/alert/create", `{"name": "a", "condition": "gpu_temp > 80"}`).must(t, 201)
	e.do("POST", "/api/alert/update", `{"name": "a", "severity": "info"}`).must(t, 200)
	e.do("POST", "/api/model/create", `{"name": "m"}`).must(t, 201)
	for _, path := range []string{"alerts/a.yaml", "alert/a", "alerts/"} {
		r := e.do("GET", "/api/log?n=20&path="+path, "").must(t, 200)
		var msgs []string
		for _, it := range r.items() {
			msgs = append(msgs, it["message"].(string))
		}
		if diff := cmp.Diff([]string{"alert update: a", "alert create: a"}, msgs); diff != "" {
			t.Errorf("log %s (-want +got):\n%s", path, diff)
		}
	}
	if r := e.do("GET", "/api/log?n=1", "").must(t, 200); r.body["total"] != 1.0 {
		t.Errorf("log n=1: %s", r.raw)
	}
}

func TestVerbs(t *testing.T) {
	e := newEnv(t, api.Options{Verbs: map[string]api.Verb{
		"service/stop": {Handle: func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				api.WriteError(w, err)
				return
			}
			api.WriteJSON(w, 200, map[string]any{"stopped": string(b)})
		}},
		"sync": {Handle: func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, 200, map[string]any{"ok": true}) }},
		// A verb replaces the built-in route of the same path.
		"alert/delete": {Handle: func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, 200, map[string]any{"mine": true}) }},
	}})
	if r := e.do("POST", "/api/alert/delete", `{"id": "x"}`).must(t, 200); r.body["mine"] != true {
		t.Errorf("verb did not replace the built-in: %s", r.raw)
	}
	if r := e.do("POST", "/api/service/stop", `{"id":"x"}`).must(t, 200); r.body["stopped"] != `{"id":"x"}` {
		t.Errorf("verb got %s", r.raw)
	}
	// A verb that changes state never answers GET.
	if r := e.do("GET", "/api/service/stop?id=x", ""); r.code != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET on a write verb: %d Allow=%q, want 405 Allow=POST", r.code, r.header.Get("Allow"))
	}
	e.do("POST", "/api/sync", "").must(t, 200)
	if r := e.do("DELETE", "/api/service/stop", ""); r.code != 405 {
		t.Errorf("DELETE verb: %d", r.code)
	}
	// A verb's body is limited like any other.
	if r := e.do("POST", "/api/service/stop", strings.Repeat(" ", 2<<20)); r.code != 413 {
		t.Errorf("2 MiB to a verb: %d %.300s", r.code, r.raw)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, api.Options{})
	e.do("POST", "/api/model/create", `{"name": "m"}`).must(t, 201)
	e.do("GET", "/api/model/list", "").must(t, 200)
	e.do("GET", "/api/model/get?id=nope", "").must(t, 404)
	e.srv.Metrics().SyncPasses.Inc()
	r := e.do("GET", "/metrics", "").must(t, 200)
	for _, want := range []string{
		`aima_http_requests_total{code="201",route="POST /api/model/create"} 1`,
		`aima_http_requests_total{code="200",route="GET /api/model/list"} 1`,
		`aima_http_request_errors_total{code="404",route="GET /api/model/get"} 1`,
		`aima_http_request_duration_seconds_bucket`,
		`aima_objects{kind="model",source="file"} 1`,
		`aima_objects{kind="engine",source="builtin"}`,
		`aima_invalid_files 0`,
		`aima_sync_passes_total 1`,
	} {
		if !strings.Contains(r.raw, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestCheckBind(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9090", "", true},
		{"127.1.2.3:9090", "", true},
		{"[::1]:9090", "", true},
		{"localhost:9090", "", true},
		{":9090", "", false},
		{"0.0.0.0:9090", "", false},
		{"[::]:9090", "", false},
		{"192.168.1.5:9090", "", false},
		{"example.com:9090", "", false},
		{"0.0.0.0:9090", "tok", true},
		{":9090", "tok", true},
		{"127.0.0.1", "", false}, // no port
	}
	for _, tt := range tests {
		err := api.CheckBind(tt.addr, tt.token)
		if (err == nil) != tt.ok {
			t.Errorf("CheckBind(%q, %q) = %v, want ok=%v", tt.addr, tt.token, err, tt.ok)
		}
		if err != nil && tt.addr == ":9090" && !strings.Contains(err.Error(), "token") {
			t.Errorf("error does not say what to do: %v", err)
		}
	}
}

// TestJSONEverywhere checks that answers the mux would give in plain text
// are JSON.
func TestJSONEverywhere(t *testing.T) {
	e := newEnv(t, api.Options{})
	for _, c := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/api"}, {"GET", "/api/"}, {"PUT", "/health"}, {"PUT", "/api/device/detect"},
	} {
		r := e.do(c.method, c.path, "")
		if r.code < 400 || r.body["error"] == nil {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.code, r.raw)
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"name": "x"}`)
	resp, err := http.Post(e.ts.URL+"/api/model/create", "text/plain", &buf)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("create with text/plain: %d, want 415", resp.StatusCode)
	}
	e.do("GET", "/api/model/get?id=x", "").must(t, 404)
}

// TestReadTimeout: the server's ReadTimeout cuts a client that trickles
// its body (slow loris), but an answer that streams for longer than the
// timeout once the body is in is not cut.
func TestReadTimeout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".aima")
	st, _ := state.Open(dir)
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	srv := api.New(api.Options{Store: st, Verbs: map[string]api.Verb{
		"sync": {Handle: func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			for i := range 6 { // 6 × 100 ms: twice the read timeout
				fmt.Fprintf(w, "chunk %d\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(timeout / 3):
				}
			}
		}},
	}})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ReadTimeout = timeout
	ts.Start()
	t.Cleanup(ts.Close)

	resp, err := http.Post(ts.URL+"/api/sync", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(b), "chunk 5") {
		t.Errorf("a long answer was cut: %q %v", b, err)
	}

	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"a":`))
		<-time.After(3 * timeout)
		pw.Write([]byte(`1}`))
		pw.Close()
	}()
	start := time.Now()
	resp, err = http.Post(ts.URL+"/api/sync", "application/json", pr)
	if err == nil {
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil && strings.Contains(string(b), "chunk 5") {
		t.Errorf("a body trickled over %s was served in full after %s", 3*timeout, time.Since(start))
	}
}
