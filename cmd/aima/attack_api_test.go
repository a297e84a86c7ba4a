package main

// Issue 11: attacks on the agent's HTTP API as a web page the owner visits
// (cross-site posts, DNS rebinding), another local user (no token) or a
// token holder (commit as someone else) would make them, on the real
// binary with its default settings. Each shows the attack fails and what
// the owner does on the same machine still works.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// rawReq is a request built by hand: no token unless auth, the headers as
// given (a "Host" entry sets the Host header).
type rawReq struct {
	method, path, body string
	header             map[string]string
	auth               bool
}

func (e *aimaEnv) raw(r rawReq) (int, http.Header, string) {
	e.t.Helper()
	var rd io.Reader
	if r.body != "" {
		rd = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, "http://"+e.addr+r.path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range r.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if r.auth {
		e.authorize(req)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (e *aimaEnv) token() string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, ".local", "token"))
	if err != nil {
		e.t.Fatalf("the agent wrote no token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestAttackTokenByDefault: a default `aima start` generates its token into
// .local/token (0600, never committed); without it nothing but /health
// answers, and the owner's CLI finds it by itself.
func TestAttackTokenByDefault(t *testing.T) {
	e := newAimaEnv(t, 2)
	agent := e.startAgent()
	fi, err := os.Stat(filepath.Join(e.dir, ".local", "token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf(".local/token: %v, mode %v; want 0600", err, fi)
	}
	tok := e.token()
	if len(tok) < 32 {
		t.Errorf("token %q is too short to be a secret", tok)
	}
	// Another local user (no token, a wrong one) gets nothing.
	for _, r := range []rawReq{
		{method: "GET", path: "/api/model/list"},
		{method: "GET", path: "/api/status"},
		{method: "GET", path: "/v1/models"},
		{method: "GET", path: "/metrics"},
		{method: "POST", path: "/api/model/create", body: `{"name": "x"}`, header: map[string]string{"Content-Type": "application/json"}},
		{method: "GET", path: "/api/model/list", header: map[string]string{"Authorization": "Bearer " + tok + "x"}},
	} {
		if code, _, body := e.raw(r); code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d %s", r.method, r.path, code, body)
		}
	}
	if code, _, _ := e.raw(rawReq{method: "GET", path: "/health"}); code != http.StatusOK {
		t.Errorf("/health without a token: %d, want 200", code)
	}
	// The owner: curl with the token, and the CLI, which reads it.
	if code, _, body := e.raw(rawReq{method: "GET", path: "/api/model/list", header: map[string]string{"Authorization": "Bearer " + tok}}); code != http.StatusOK {
		t.Errorf("with the token: %d %s", code, body)
	}
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	if out := e.mustAima("status"); !strings.Contains(out, "running on "+e.addr) {
		t.Errorf("aima status does not see the agent: %s", out)
	}
	// Never committed, never in the log.
	if out := e.mustGit("log", "--all", "-p"); strings.Contains(out, tok) {
		t.Error("the token is in the git history")
	}
	if strings.Contains(agent.out.String(), tok) {
		t.Error("the token is in the agent's log")
	}
}

// TestAttackEmptyToken: a token given but empty is refused at start, never
// taken for "no token".
func TestAttackEmptyToken(t *testing.T) {
	e := newAimaEnv(t, 1)
	if _, stderr, code := e.aimaEnvs([]string{"AIMA_TOKEN=  "}, "start", "--addr", e.addr); code == 0 || !strings.Contains(stderr, "AIMA_TOKEN") {
		t.Errorf("AIMA_TOKEN of spaces: exit %d %s", code, stderr)
	}
	empty := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, stderr, code := e.aima("start", "--addr", e.addr, "--token-file", empty); code == 0 || !strings.Contains(stderr, "--token-file") {
		t.Errorf("empty --token-file: exit %d %s", code, stderr)
	}
	os.MkdirAll(filepath.Join(e.dir, ".local"), 0o755)
	os.WriteFile(filepath.Join(e.dir, ".local", "token"), []byte("   \n"), 0o600)
	if _, stderr, code := e.aima("start", "--addr", e.addr); code == 0 || !strings.Contains(stderr, "empty") {
		t.Errorf("empty .local/token: exit %d %s", code, stderr)
	}
}

// TestAttackCrossSiteWrites: what a page on another site can send without
// a CORS preflight — text/plain and form posts — changes nothing, nor does
// a JSON post carrying a foreign Origin; the owner's JSON post works.
func TestAttackCrossSiteWrites(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	app := `{"name": "pwn", "image": "busybox", "volumes": ["/:/host"]}`
	for _, r := range []rawReq{
		{method: "POST", path: "/api/app/create", body: app, header: map[string]string{"Content-Type": "text/plain"}, auth: true},
		{method: "POST", path: "/api/app/create", body: "name=pwn&image=busybox", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, auth: true},
		{method: "POST", path: "/api/app/create", body: app, header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, auth: true},
		{method: "POST", path: "/api/model/create", body: `{"name": "pwn"}`, header: map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, auth: true},
	} {
		if code, _, body := e.raw(r); code != http.StatusUnsupportedMediaType {
			t.Errorf("POST %s as %s: %d %s, want 415", r.path, r.header["Content-Type"], code, body)
		}
	}
	for _, origin := range []string{"https://evil.example.com", "null", "http://127.0.0.1:1"} {
		r := rawReq{method: "POST", path: "/api/model/create", body: `{"name": "pwn"}`, auth: true, header: map[string]string{"Origin": origin}}
		if code, h, body := e.raw(r); code != http.StatusForbidden || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("POST from origin %s: %d ACAO=%q %s, want 403 and no CORS header", origin, code, h.Get("Access-Control-Allow-Origin"), body)
		}
		r = rawReq{method: "GET", path: "/api/model/list", auth: true, header: map[string]string{"Origin": origin}}
		if code, _, _ := e.raw(r); code != http.StatusForbidden {
			t.Errorf("GET from origin %s: %d, want 403 (a page must not read either)", origin, code)
		}
	}
	r := rawReq{method: "GET", path: "/api/model/list", auth: true, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}
	if code, _, _ := e.raw(r); code != http.StatusForbidden {
		t.Errorf("Sec-Fetch-Site: cross-site: %d, want 403", code)
	}
	for _, name := range []string{"apps/pwn.yaml", "models/pwn.yaml"} {
		if _, err := os.Stat(filepath.Join(e.dir, name)); err == nil {
			t.Errorf("%s was written by a cross-site request", name)
		}
	}
	// The agent's own page (same origin) and the owner's curl work.
	same := rawReq{method: "POST", path: "/api/model/create", body: `{"name": "mine"}`, auth: true, header: map[string]string{"Origin": "http://" + e.addr}}
	if code, _, body := e.raw(same); code != http.StatusCreated {
		t.Errorf("same-origin JSON post: %d %s", code, body)
	}
}

// TestAttackAllowedOrigin: an origin listed in .local/settings.yaml gets
// CORS headers and its preflight answered; others still get neither.
func TestAttackAllowedOrigin(t *testing.T) {
	e := newAimaEnv(t, 1)
	os.MkdirAll(filepath.Join(e.dir, ".local"), 0o755)
	os.WriteFile(filepath.Join(e.dir, ".local", "settings.yaml"), []byte("cors_origins: [\"https://ops.example.com\"]\nallowed_hosts: [aima.lab.example]\n"), 0o644)
	e.startAgent()
	pre := rawReq{method: "OPTIONS", path: "/api/model/create", header: map[string]string{"Origin": "https://ops.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}}
	code, h, body := e.raw(pre)
	if code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://ops.example.com" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from the allowed origin: %d %v %s", code, h, body)
	}
	r := rawReq{method: "POST", path: "/api/model/create", body: `{"name": "from-ops"}`, auth: true, header: map[string]string{"Origin": "https://ops.example.com"}}
	if code, h, body := e.raw(r); code != http.StatusCreated || h.Get("Access-Control-Allow-Origin") != "https://ops.example.com" {
		t.Errorf("post from the allowed origin: %d ACAO=%q %s", code, h.Get("Access-Control-Allow-Origin"), body)
	}
	pre.header["Origin"] = "https://evil.example.com"
	if code, h, _ := e.raw(pre); code == http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d ACAO=%q", code, h.Get("Access-Control-Allow-Origin"))
	}
	// The configured Host name is answered; others are not.
	if code, _, body := e.raw(rawReq{method: "GET", path: "/api/model/list", auth: true, header: map[string]string{"Host": "aima.lab.example:9090"}}); code != http.StatusOK {
		t.Errorf("allowed host: %d %s", code, body)
	}
}

// TestAttackDNSRebinding: a page whose name was rebound to 127.0.0.1 sends
// its own name as Host; the agent answers nothing to it, with or without
// the token, while loopback names work.
func TestAttackDNSRebinding(t *testing.T) {
	e := newAimaEnv(t, 1)
	e.startAgent()
	_, port, _ := strings.Cut(e.addr, ":")
	for _, host := range []string{"evil.example.com:" + port, "evil.example.com", "localhost.evil.example.com:" + port, "127.0.0.1.nip.io:" + port} {
		for _, r := range []rawReq{
			{method: "GET", path: "/api/model/list", auth: true},
			{method: "POST", path: "/api/model/create", body: `{"name": "rebound"}`, auth: true},
			{method: "GET", path: "/api/status"},
		} {
			r.header = map[string]string{"Host": host}
			if code, _, body := e.raw(r); code != http.StatusMisdirectedRequest || !strings.Contains(body, "forbidden_host") {
				t.Errorf("%s %s with Host %s: %d %s, want 421 forbidden_host", r.method, r.path, host, code, body)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "models", "rebound.yaml")); err == nil {
		t.Error("a rebound page created a model")
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "LOCALHOST:" + port} {
		if code, _, body := e.raw(rawReq{method: "GET", path: "/api/model/list", auth: true, header: map[string]string{"Host": host}}); code != http.StatusOK {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
	}
}

// mutatingRoutes is every API route that changes state: create, update
// and delete of each kind, the service and app verbs, sync, unit/call, and
// the unit routes whose unit is not a read.
func mutatingRoutes() []string {
	var out []string
	for _, k := range state.Kinds {
		for _, verb := range []string{"create", "update", "delete"} {
			out = append(out, "/api/"+k.Name+"/"+verb)
		}
	}
	out = append(out, "/api/service/start", "/api/service/stop", "/api/app/start", "/api/app/stop", "/api/sync", "/api/unit/call")
	for _, u := range unit.Default.List() {
		if !u.Read {
			out = append(out, unit.Path(u.Name))
		}
	}
	sort.Strings(out)
	out = slices.Compact(out)
	return out
}

// TestAttackGETNeverWrites: no route changes state on GET (an <img src>
// or a link would be enough): each answers 405 with Allow: POST, with the
// query a GET would carry, and nothing is committed.
func TestAttackGETNeverWrites(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	head := e.mustGit("rev-parse", "HEAD")
	routes := mutatingRoutes()
	if len(routes) < 35 {
		t.Fatalf("only %d mutating routes: %v", len(routes), routes)
	}
	q := "?id=tiny&name=tiny&unit=model.create&params=%7B%22name%22%3A%22pwn%22%7D&to=/etc/cron.d"
	for _, path := range routes {
		code, h, body := e.raw(rawReq{method: "GET", path: path + q, auth: true})
		if code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d Allow=%q %.200s, want 405 Allow: POST", path, code, h.Get("Allow"), body)
		}
	}
	if now := e.mustGit("rev-parse", "HEAD"); now != head {
		t.Errorf("GETs committed: %s", e.mustGit("log", "--oneline", head+"..HEAD"))
	}
	// Reads still answer GET.
	for _, path := range []string{"/api/model/list", "/api/model/get?id=tiny", "/api/status", "/api/diff", "/api/unit/list", "/api/catalog/match", "/api/skill/search?query=vllm", "/api/log"} {
		if code, _, body := e.raw(rawReq{method: "GET", path: path, auth: true}); code != http.StatusOK {
			t.Errorf("GET %s: %d %.200s", path, code, body)
		}
	}
}

// TestAttackHostTakeoverThroughAPI: the app that once took the host — `/`
// and the Docker socket mounted — and a service reading the agent's
// secrets through ${env:} are refused with the policy rule they break; no
// container is made. A named volume and an env value of the file's own are
// fine.
func TestAttackHostTakeoverThroughAPI(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent("HF_TOKEN=hf_secret_of_the_owner", "AIMA_GIT_TOKEN=git_secret_of_the_owner")
	code, body, err := e.call("POST", "/api/app/create", `{"name": "root", "image": "aima-stub", "volumes": ["/:/host", "/var/run/docker.sock:/var/run/docker.sock"]}`)
	if err != nil || code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "policy") || !strings.Contains(string(body), "/volumes/0") || !strings.Contains(string(body), "/volumes/1") {
		t.Errorf("app mounting / and docker.sock: %d %s %v, want 422 naming both volumes and the policy", code, body, err)
	}
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	for _, env := range []string{"HF_TOKEN", "AIMA_GIT_TOKEN"} {
		code, body, _ := e.call("POST", "/api/service/create", fmt.Sprintf(`{"name": "thief", "model": "tiny", "engine": "stub", "env": {"X": "${env:%s}"}}`, env))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "/env/X") || !strings.Contains(string(body), "policy") {
			t.Errorf("service reading ${env:%s}: %d %s", env, code, body)
		}
	}
	if _, stderr, code := e.aima("service", "create", "--name", "thief", "--model-id", "tiny", "--engine-type", "stub", "--env", "X=${env:HF_TOKEN}"); code == 0 || !strings.Contains(stderr, "policy") {
		t.Errorf("CLI service reading ${env:HF_TOKEN}: exit %d %s", code, stderr)
	}
	// The legitimate service runs, with an env value of its own.
	e.mustCall("POST", "/api/service/create", `{"name": "chat", "model": "tiny", "engine": "stub", "env": {"GREETING": "hello"}}`, http.StatusCreated)
	e.waitStatus("chat", "running", 60*time.Second)
	for _, c := range e.containers() {
		if strings.Contains(c.Names[0], "root") || strings.Contains(c.Names[0], "thief") {
			t.Errorf("a refused object got a container: %v", c.Names)
		}
		ins, err := e.docker.ContainerInspect(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range ins.Config.Env {
			if strings.Contains(kv, "secret_of_the_owner") {
				t.Errorf("container %s holds the owner's secret: %s", c.Names[0], kv)
			}
		}
	}
}

// TestAttackCommitAsSomeoneElse: a named token writes as its name; its
// X-Aima-Author becomes an On-behalf-of trailer and can never make the
// commit look like the agent's (or anyone's) own.
func TestAttackCommitAsSomeoneElse(t *testing.T) {
	e := newAimaEnv(t, 1)
	tokFile := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokFile, []byte("ci=ci-secret-123\n"), 0o600)
	e.startAgentArgs([]string{"--token-file", tokFile})
	r := rawReq{method: "POST", path: "/api/model/create", body: `{"name": "spoof"}`, header: map[string]string{
		"Authorization": "Bearer ci-secret-123", "Content-Type": "application/json", "X-Aima-Author": "aima-agent <aima@localhost>"}}
	if code, _, body := e.raw(r); code != http.StatusCreated {
		t.Fatalf("create with the ci token: %d %s", code, body)
	}
	if got := strings.TrimSpace(e.mustGit("log", "-1", "--format=%an|%(trailers:key=On-behalf-of,valueonly)")); got != "ci|aima-agent <aima@localhost>" {
		t.Errorf("author|on-behalf-of = %q, want ci|aima-agent <aima@localhost>", got)
	}
}
