package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The operator's tests drive `aima agent` against a model served by aima
// itself: a stub service, whose scripted tool-calling mode answers
// "call TOOL {json}" lines with one tool call per round, then "done: "
// with the results.

var conversationRE = regexp.MustCompile(`conversation (c[0-9a-f]{8}) with (\S+)`)

// withOperatorModel starts the agent and a stub service of model "op", the
// operator's LLM (the only model running, so chosen without --llm).
func withOperatorModel(t *testing.T, ports int) (*aimaEnv, *agentProc) {
	t.Helper()
	e := newAimaEnv(t, ports)
	p := e.startAgent()
	e.mustAima("model", "create", "--name", "op", "--source", "ollama", "--repo", "op")
	e.mustAima("service", "create", "--name", "op", "--model-id", "op", "--engine-type", "stub")
	e.waitStatus("op", "running", 90*time.Second)
	return e, p
}

// ask runs aima agent ask and returns its stdout and the conversation.
func (e *aimaEnv) ask(args ...string) (string, string) {
	e.t.Helper()
	out, errOut, code := e.aima(append([]string{"agent", "ask"}, args...)...)
	if code != 0 {
		e.t.Fatalf("aima agent ask %q: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	m := conversationRE.FindStringSubmatch(errOut)
	if m == nil {
		e.t.Fatalf("aima agent ask: no conversation named on stderr: %s", errOut)
	}
	return out, m[1]
}

// TestAgentOperator is the "done when": a read answers with the
// models; a proposed service_create is a branch and a diff, and nothing
// runs until approve makes it run; --yes writes at once as aima-agent; and
// aima log tells the operator's changes from people's.
func TestAgentOperator(t *testing.T) {
	e, _ := withOperatorModel(t, 3)

	out, _, code := e.aima("agent", "ask", "call model_list {}")
	if code != 0 || !strings.Contains(out, "[1] model_list {}") || !strings.Contains(out, `done: {"items":[{`) || !strings.Contains(out, `"name":"op"`) {
		t.Fatalf("ask model_list: exit %d\n%s", code, out)
	}

	out, id := e.ask("call model_create {\"name\": \"tiny\", \"source\": \"ollama\", \"repo\": \"tinyllama\"}\n" +
		"call service_create {\"name\": \"chat\", \"model\": \"tiny\", \"engine\": \"stub\"}")
	if !strings.Contains(out, "proposed on branch agent/"+id) || !strings.Contains(out, "aima agent approve "+id) {
		t.Fatalf("proposal not shown:\n%s", out)
	}
	if branches := e.mustGit("branch", "--list", "agent/*"); strings.TrimSpace(branches) != "agent/"+id {
		t.Errorf("branches %q", branches)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "services", "chat.yaml")); err == nil {
		t.Error("a proposed service's file is in the work tree")
	}
	show := e.mustAima("agent", "show", id)
	for _, want := range []string{"+++ b/services/chat.yaml", "+model: tiny", "+engine: stub", "change set on agent/" + id + ": proposed", "service create: chat"} {
		if !strings.Contains(show, want) {
			t.Errorf("agent show lacks %q:\n%s", want, show)
		}
	}
	if list := e.mustAima("agent", "list"); !strings.Contains(list, id) || !strings.Contains(list, "proposed") {
		t.Errorf("agent list:\n%s", list)
	}
	// Nothing runs until approved (the agent has had every chance: a pass
	// converges the op service, which is already running).
	if _, ok := e.serviceStatusesOrEmpty()["chat"]; ok {
		t.Fatal("the proposed service exists before approval")
	}
	if out := e.mustAima("agent", "approve", id); !strings.Contains(out, "approved "+id) || !strings.Contains(out, "services/chat.yaml") {
		t.Errorf("approve: %s", out)
	}
	e.waitStatus("chat", "running", 90*time.Second)
	if subj := e.mustGit("log", "-1", "--format=%an|%s|%P"); !strings.HasPrefix(subj, "aima-test|agent approve: "+id+" (model create: tiny; service create: chat)|") || len(strings.Fields(strings.Split(subj, "|")[2])) != 2 {
		t.Errorf("approval commit %q", subj)
	}
	if b := e.mustGit("branch", "--list", "agent/*"); strings.TrimSpace(b) != "" {
		t.Errorf("branch left after approve: %q", b)
	}

	// --yes: at once, by aima-agent, with the conversation's trailer.
	out, yid := e.ask("--yes", "--llm", "op", "call service_stop {\"id\": \"chat\", \"wait\": true, \"timeout\": \"60s\"}")
	if strings.Contains(out, "proposed on branch") {
		t.Errorf("--yes proposed:\n%s", out)
	}
	e.waitStatus("chat", "stopped", 60*time.Second)
	if c := e.mustGit("log", "-1", "--format=%an|%s|%(trailers:key=Conversation,valueonly)"); strings.TrimSpace(c) != "aima-agent|service stop: chat|"+yid {
		t.Errorf("--yes commit %q", c)
	}
	log := e.mustAima("log")
	for _, want := range []string{"aima-agent via operator " + yid, "aima-agent via operator " + id, "aima-test  "} {
		if !strings.Contains(log, want) {
			t.Errorf("aima log lacks %q:\n%s", want, log)
		}
	}
}

// serviceStatusesOrEmpty is serviceStatuses, empty when it fails.
func (e *aimaEnv) serviceStatusesOrEmpty() map[string]map[string]any {
	m, err := e.serviceStatuses()
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// TestAgentScenarios are the reference's operator scenarios, scripted: ask
// what runs; deploy a model and test it; find why a service failed — and
// the round limit.
func TestAgentScenarios(t *testing.T) {
	e, _ := withOperatorModel(t, 4)
	// More models run below: the operator's is set in local settings.
	if err := os.WriteFile(filepath.Join(e.dir, ".local", "settings.yaml"), []byte("llm:\n  model: op\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("what runs", func(t *testing.T) {
		out, _ := e.ask("what is running?\ncall service_list {}")
		if !strings.Contains(out, `"name":"op"`) || !strings.Contains(out, `"status":"running"`) {
			t.Errorf("answer:\n%s", out)
		}
	})

	t.Run("deploy and test a model", func(t *testing.T) {
		out, _ := e.ask("--yes", "deploy a small chat model and test it\n"+
			"call model_create {\"name\": \"small\", \"source\": \"ollama\", \"repo\": \"qwen2:0.5b\"}\n"+
			"call service_create {\"name\": \"small-chat\", \"model\": \"small\", \"engine\": \"stub\"}\n"+
			"call service_start {\"id\": \"small-chat\", \"wait\": true, \"timeout\": \"90s\"}\n"+
			"call inference_chat {\"model\": \"small\", \"message\": \"hello\"}")
		if !strings.Contains(out, "stub answer from small: hello") || strings.Contains(out, "✗") {
			t.Errorf("answer:\n%s", out)
		}
		if st := e.serviceStatusesOrEmpty()["small-chat"]; st["status"] != "running" {
			t.Errorf("small-chat: %v", st)
		}
	})

	t.Run("why did a service fail", func(t *testing.T) {
		e.mustAima("service", "create", "--name", "broken", "--model-id", "op", "--engine-type", "stub", "--env", "AIMA_STUB_FAIL=1")
		waitUntil(t, 90*time.Second, "broken fails", func() (bool, string) {
			st := e.serviceStatusesOrEmpty()["broken"]
			return st["status"] == "failed" || st["status"] == "unhealthy", fmt.Sprint(st)
		})
		out, _ := e.ask("why did broken fail?\ncall service_status {\"id\": \"broken\"}\ncall service_logs {\"id\": \"broken\"}\ncall service_get {\"id\": \"no-such\"}")
		if !strings.Contains(out, "AIMA_STUB_FAIL=1: failing on purpose") {
			t.Errorf("the logs are not in the answer:\n%s", out)
		}
		if !strings.Contains(out, "✗ service.get failed (not_found)") { // a failing tool is the model's to read
			t.Errorf("the failing tool:\n%s", out)
		}
	})

	t.Run("round limit", func(t *testing.T) {
		out, errOut, code := e.aima("agent", "ask", "--max-rounds", "2", strings.Repeat("call model_list {}\n", 4))
		if code != 1 || strings.Count(out, "] model_list") != 2 || !strings.Contains(errOut, "stopped after 2 rounds") {
			t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if _, errOut, code := e.aima("agent", "ask", "--max-rounds", "0", "x"); code == 0 || !strings.Contains(errOut, "--max-rounds") {
			t.Errorf("--max-rounds 0: exit %d %s", code, errOut)
		}
	})
}

// TestAgentChat: aima agent chat takes a turn per line, in one
// conversation, until /exit.
func TestAgentChat(t *testing.T) {
	e, _ := withOperatorModel(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.command(ctx, "agent", "chat")
	c.Stdin = strings.NewReader("call model_list {}\n\ncall service_list {}\n/exit\ncall model_list {}\n")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("aima agent chat: %v\n%s%s", err, out.String(), errb.String())
	}
	if n := strings.Count(out.String(), "done: "); n != 2 || !strings.Contains(out.String(), "] service_list {}") {
		t.Errorf("%d answers:\n%s", n, out.String())
	}
	ids := conversationRE.FindAllStringSubmatch(errb.String(), -1)
	if len(ids) != 2 || ids[0][1] != ids[1][1] {
		t.Fatalf("conversations %v:\n%s", ids, errb.String())
	}
	show := e.mustAima("agent", "show", ids[0][1])
	if strings.Count(show, "you: ") != 2 {
		t.Errorf("history:\n%s", show)
	}
}

// TestAgentNoLLM: nothing running and nothing set: the message says how
// to set a model.
func TestAgentNoLLM(t *testing.T) {
	e := newAimaEnv(t, 1)
	_, errOut, code := e.aima("agent", "ask", "hello")
	if code == 0 || !strings.Contains(errOut, "no LLM for the operator") || !strings.Contains(errOut, "--llm MODEL") || !strings.Contains(errOut, "settings.yaml") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestAgentChatOverHTTPAcrossARestart: a conversation begun on the command
// line goes on through POST /api/agent/chat after the agent was killed and
// started again: the SSE stream carries each tool call and the answer, and
// the history holds both turns.
func TestAgentChatOverHTTPAcrossARestart(t *testing.T) {
	e, p := withOperatorModel(t, 2)
	_, id := e.ask("call model_list {}")
	p.kill()
	e.startAgent()
	e.waitStatus("op", "running", 60*time.Second)

	req, _ := http.NewRequest("POST", "http://"+e.addr+"/api/agent/chat", strings.NewReader(`{"message": "call service_list {}", "conversation": "`+id+`", "llm": "op"}`))
	e.authorize(req)
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []string
	var done map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if ev, ok := strings.CutPrefix(line, "event: "); ok {
			if event = ev; ev != "delta" || events[len(events)-1] != "delta" { // the answer's pieces as one
				events = append(events, ev)
			}
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && event == "done" {
			_ = json.Unmarshal([]byte(data), &done)
		}
	}
	if resp.StatusCode != 200 || strings.Join(events, ",") != "start,tool,delta,answer,done" || done["conversation"] != id || !strings.Contains(fmt.Sprint(done["answer"]), `"name":"op"`) {
		t.Fatalf("%d: events %v, done %v", resp.StatusCode, events, done)
	}
	show := e.mustAima("agent", "show", id)
	if !strings.Contains(show, "you: call model_list {}") || !strings.Contains(show, "you: call service_list {}") {
		t.Errorf("history:\n%s", show)
	}
	// yes over HTTP: the write commits at once as the caller (the owner's
	// token without X-Aima-Author: "api"), with the conversation's trailer.
	code, b, err := e.call("POST", "/api/agent/chat", `{"message": "call model_create {\"name\": \"viahttp\", \"source\": \"ollama\"}", "yes": true, "llm": "op"}`)
	if err != nil || code != 200 || !strings.Contains(string(b), "event: done") {
		t.Fatalf("yes over HTTP: %d %v %s", code, err, b)
	}
	if c := e.mustGit("log", "-1", "--format=%an|%s|%(trailers:key=Conversation,valueonly,separator=)"); !regexp.MustCompile(`^api\|model create: viahttp\|c[0-9a-f]{8}\s*$`).MatchString(c) {
		t.Errorf("commit %q", c)
	}
	// The door is the agent's: no token, no chat.
	req, _ = http.NewRequest("POST", "http://"+e.addr+"/api/agent/chat", strings.NewReader(`{"message": "call model_list {}"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := apiClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %v %v", resp.StatusCode, err)
	}
}
