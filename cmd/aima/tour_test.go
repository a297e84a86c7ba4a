package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDomainsTour is the README's tour, end to end on the real agent with
// stub containers: a recipe is applied (one commit) and its service comes
// up; the agent routes OpenAI-compatible chat (plain and streaming) to it;
// a pipeline runs through it; an alert fires when the service stops and
// resolves when it is back.
func TestDomainsTour(t *testing.T) {
	e := newAimaEnv(t, 4)
	e.startAgent("AIMA_ALERT_INTERVAL=200ms")

	// An alert rule on a service that does not run yet.
	e.mustCall("POST", "/api/alert/create", `{"name": "chat-down", "condition": "service_down(\"chat\")", "action": "log"}`, http.StatusCreated)
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
	e.waitStatus("chat", "running", 60*time.Second)

	// Inference through the agent, routed by model.
	resp := e.mustCall("POST", "/v1/chat/completions", `{"model": "tiny", "messages": [{"role": "user", "content": "hello"}]}`, http.StatusOK)
	choices, _ := resp["choices"].([]any)
	if len(choices) == 0 || !strings.Contains(fmt.Sprint(choices[0]), "stub answer from tiny: hello") {
		t.Errorf("chat through the agent: %v", resp)
	}
	req, _ := http.NewRequest("POST", "http://"+e.addr+"/v1/chat/completions", strings.NewReader(`{"model": "tiny", "stream": true, "messages": [{"role": "user", "content": "s"}]}`))
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

	// A pipeline through the same units, with run input.
	e.mustCall("POST", "/api/pipeline/create", `{"name": "ask", "steps": [{"id": "list", "unit": "model.list"}, {"id": "a", "unit": "inference.chat", "params": {"model": "tiny", "message": "${input.q}"}, "depends_on": ["list"]}]}`, http.StatusCreated)
	if out, stderr, code := e.aima("pipeline", "run", "ask", "--input", `{"q": "from a pipeline"}`, "--wait"); code != 0 || !strings.Contains(out, "completed") {
		t.Errorf("pipeline run: %d %s %s", code, out, stderr)
	}

	// The alert: it fired while chat was not up yet; it resolves once chat runs.
	active := func() string {
		_, b, _ := e.call("GET", "/api/alert/active", "")
		return string(b)
	}
	waitUntil(t, 10*time.Second, "chat-down resolved", func() (bool, string) {
		a := active()
		return !strings.Contains(a, "chat-down"), a
	})
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
	if strings.Count(hist, `"state": "firing"`) < 2 || strings.Count(hist, `"state": "resolved"`) < 2 {
		t.Errorf("alert history lacks firing/resolved pairs:\n%s", hist)
	}
	e.checkGit(false)
}
