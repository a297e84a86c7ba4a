package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDomainsTour is the README's tour, end to end on the real agent with
// stub containers: a recipe is applied (one commit) and its service comes
// up; the agent routes OpenAI-compatible chat (plain and streaming) to it;
// a failure only the agent saw shows in the CLI; a pipeline runs through
// it; an alert stays quiet while the service starts, fires when it stops and
// resolves when it is back.
func TestDomainsTour(t *testing.T) {
	e := newAimaEnv(t, 4)
	e.startAgent("AIMA_ALERT_INTERVAL=200ms")

	// A recipe, applied: model and service in one commit, deployed by the loop.
	e.mustCall("POST", "/api/catalog/create", `{"name": "tiny-cpu", "engine_type": "stub", "hardware": {"os": "linux"}, "models": [{"name": "tiny", "source": "ollama", "repo": "tinyllama"}]}`, http.StatusCreated)
	match := e.mustAima("catalog", "match", "-o", "json")
	if !strings.Contains(match, `"tiny-cpu"`) {
		t.Fatalf("catalog match does not offer the recipe:\n%s", match)
	}
	e.mustAima("catalog", "apply", "tiny-cpu", "--name", "chat")
	if files := e.mustGit("show", "--name-only", "--format=%s", "HEAD"); !strings.Contains(files, "catalog apply: tiny-cpu") ||
		!strings.Contains(files, "models/tiny.yaml") || !strings.Contains(files, "services/chat.yaml") {
		t.Errorf("catalog apply is not one commit with the model and the service:\n%s", files)
	}
	// An alert rule on the service, created while it is on its way up.
	e.mustCall("POST", "/api/alert/create", `{"name": "chat-down", "condition": "service_down(\"chat\")", "action": "log"}`, http.StatusCreated)
	e.waitStatus("chat", "running", 60*time.Second)

	// Inference through the agent, routed by model.
	resp := e.mustCall("POST", "/v1/chat/completions", `{"model": "tiny", "messages": [{"role": "user", "content": "hello"}]}`, http.StatusOK)
	choices, _ := resp["choices"].([]any)
	if len(choices) == 0 || !strings.Contains(fmt.Sprint(choices[0]), "stub answer from tiny: hello") {
		t.Errorf("chat through the agent: %v", resp)
	}
	req, _ := http.NewRequest("POST", "http://"+e.addr+"/v1/chat/completions", strings.NewReader(`{"model": "tiny", "stream": true, "messages": [{"role": "user", "content": "s"}]}`))
	e.authorize(req)
	sr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	sc := bufio.NewScanner(sr.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			chunks = append(chunks, line)
		}
	}
	sr.Body.Close()
	if len(chunks) < 3 || chunks[len(chunks)-1] != "[DONE]" || !strings.HasPrefix(sr.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("streaming through the agent: %s %v", sr.Header.Get("Content-Type"), chunks)
	}
	models := e.mustCall("GET", "/v1/models", "", http.StatusOK)
	if b, _ := json.Marshal(models); !strings.Contains(string(b), `"id":"tiny"`) {
		t.Errorf("/v1/models: %s", b)
	}
	e.mustCall("POST", "/v1/chat/completions", `{"model": "nope", "messages": []}`, http.StatusNotFound)
	if out, stderr, code := e.aima("inference", "chat", "-m", "tiny", "-M", "from the CLI"); code != 0 || !strings.Contains(out, "stub answer from tiny: from the CLI") {
		t.Errorf("aima inference chat: %d %s %s", code, out, stderr)
	}

	// A failure only the agent saw (a foreign process holds the port: the
	// create was refused before any container existed) is what the CLI
	// shows too: it asks the running agent, not just Docker.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	e.mustAima("service", "create", "--name", "blocked", "--model-id", "tiny", "--engine-type", "stub", "--port", port)
	e.waitStatus("blocked", "failed", 10*time.Second)
	var got map[string]any
	if err := json.Unmarshal([]byte(e.mustAima("service", "get", "blocked", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if r, _ := got["reason"].(string); got["status"] != "failed" || !strings.Contains(r, port) {
		t.Errorf("aima service get of a service whose port is held: %v (want failed, naming port %s)", got, port)
	}
	e.mustAima("service", "delete", "blocked")

	// A pipeline through the same units, with run input.
	e.mustCall("POST", "/api/pipeline/create", `{"name": "ask", "steps": [{"id": "list", "unit": "model.list"}, {"id": "a", "unit": "inference.chat", "params": {"model": "tiny", "message": "${input.q}"}, "depends_on": ["list"]}]}`, http.StatusCreated)
	if out, stderr, code := e.aima("pipeline", "run", "ask", "--input", `{"q": "from a pipeline"}`, "--wait"); code != 0 || !strings.Contains(out, "completed") {
		t.Errorf("pipeline run: %d %s %s", code, out, stderr)
	}

	// The alert: quiet while chat was on its way up (no false alarm), firing
	// once it is stopped, resolved once it is back.
	active := func() string {
		_, b, _ := e.call("GET", "/api/alert/active", "")
		return string(b)
	}
	if h := e.mustAima("alert", "history", "-o", "json"); strings.Contains(h, "chat-down") {
		t.Errorf("chat-down fired while chat was starting:\n%s", h)
	}
	e.mustAima("service", "stop", "chat")
	waitUntil(t, 10*time.Second, "chat-down firing after stop", func() (bool, string) {
		a := active()
		return strings.Contains(a, `"name":"chat-down"`), a
	})
	e.mustAima("service", "start", "chat", "--wait", "--timeout", "60s")
	waitUntil(t, 10*time.Second, "chat-down resolved after start", func() (bool, string) {
		a := active()
		return !strings.Contains(a, "chat-down"), a
	})
	hist := e.mustAima("alert", "history", "-o", "json")
	if strings.Count(hist, `"state": "firing"`) != 1 || strings.Count(hist, `"state": "resolved"`) != 1 {
		t.Errorf("alert history is not one firing and one resolved:\n%s", hist)
	}
	e.checkGit(false)
}
