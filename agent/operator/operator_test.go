package operator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/operator"
	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// fixture is a state directory whose operator talks to the stub engine
// (its scripted tool-calling mode) as an OpenAI-compatible endpoint set
// in local settings.
type fixture struct {
	dir string
	env *unit.Env
	op  *operator.Operator

	mu   sync.Mutex
	last map[string]any // the last request the model was sent
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	model := stub.Handler(stub.Options{Model: "op", Log: io.Discard})
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req map[string]any
		_ = json.Unmarshal(b, &req)
		f.mu.Lock()
		f.last = req
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		model.ServeHTTP(w, r)
	}))
	t.Cleanup(llm.Close)
	dir := t.TempDir()
	st, err := daemon.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Author = repo.Signature{Name: "alice", Email: "alice@example.com"}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	writeSettings(t, dir, "llm:\n  endpoint: "+llm.URL+"/v1\n  model: op\n")
	f.dir, f.env = dir, daemon.UnitEnv(st, nil, nil)
	f.op = f.env.Operator.(*operator.Operator)
	f.call(t, "model.create", map[string]any{"name": "tiny", "source": "ollama", "repo": "tinyllama"})
	return f
}

func writeSettings(t *testing.T, dir, settings string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".local", "settings.yaml"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) call(t *testing.T, name string, p map[string]any) map[string]any {
	t.Helper()
	out, err := unit.Default.Call(context.Background(), f.env, name, p)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// ask runs one turn and returns its result and events.
func (f *fixture) ask(t *testing.T, req operator.Request) (operator.Result, []operator.Event) {
	t.Helper()
	var evs []operator.Event
	res, err := f.op.Ask(context.Background(), req, func(e operator.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatalf("ask %q: %v", req.Message, err)
	}
	return res, evs
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func exists(dir, rel string) bool {
	_, err := os.Stat(filepath.Join(dir, rel))
	return err == nil
}

func tools(evs []operator.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "tool" {
			s := e.Tool
			if e.Error {
				s += " (error)"
			}
			if e.Proposed {
				s += " (proposed)"
			}
			out = append(out, s)
		}
	}
	return out
}

func TestAskRead(t *testing.T) {
	f := newFixture(t)
	res, evs := f.ask(t, operator.Request{Message: "what models are there?\ncall model_list {}"})
	if !strings.HasPrefix(res.Answer, "done: ") || !strings.Contains(res.Answer, `"name":"tiny"`) {
		t.Errorf("answer %q: want done: with the model list", res.Answer)
	}
	if got := strings.Join(tools(evs), ","); got != "model_list" {
		t.Errorf("tool calls %q", got)
	}
	var text string
	for _, e := range evs {
		if e.Type == "delta" {
			text += e.Content
		}
	}
	if evs[0].Type != "start" || evs[len(evs)-1].Type != "answer" || res.Rounds != 2 || text != res.Answer {
		t.Errorf("events %+v, rounds %d", evs, res.Rounds)
	}
	if res.Proposal != nil || strings.Contains(git(t, f.dir, "branch"), "agent/") {
		t.Errorf("a read proposed something: %+v", res.Proposal)
	}
}

// TestProposeApprove: a write is a commit on agent/<id> with a diff,
// nothing in the work tree; approve merges it as one commit by the
// approver, and the branch goes.
func TestProposeApprove(t *testing.T) {
	f := newFixture(t)
	headBefore := git(t, f.dir, "rev-parse", "HEAD")
	res, evs := f.ask(t, operator.Request{Message: "call model_create {\"name\": \"qwen\", \"source\": \"ollama\", \"repo\": \"qwen2\"}\ncall model_update {\"name\": \"tiny\", \"tag\": \"v2\"}"})
	if got := strings.Join(tools(evs), ","); got != "model_create (proposed),model_update (proposed)" {
		t.Fatalf("tool calls %q: %+v", got, evs)
	}
	id := res.Conversation
	if res.Proposal == nil || res.Proposal.Branch != "agent/"+id {
		t.Fatalf("proposal %+v", res.Proposal)
	}
	if exists(f.dir, "models/qwen.yaml") || git(t, f.dir, "rev-parse", "HEAD") != headBefore {
		t.Fatal("a proposed write changed the working branch or its files")
	}
	if got := git(t, f.dir, "log", "--format=%an|%s", "main..agent/"+id); got != "aima-agent|model update: tiny\naima-agent|model create: qwen" {
		t.Errorf("branch commits:\n%s", got)
	}
	if got := git(t, f.dir, "log", "-1", "--format=%(trailers:key=Conversation,valueonly,separator=)|%(trailers:key=Requested-by,valueonly,separator=)", "agent/"+id); got != id+"|alice" {
		t.Errorf("trailers %q, want %q", got, id+"|alice")
	}
	show, err := f.op.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	diff := show["proposal"].(map[string]any)["diff"].(string)
	for _, want := range []string{"+++ b/models/qwen.yaml", "+name: qwen", "+tag: v2"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	out := f.call(t, "agent.approve", map[string]any{"id": id})
	if out["status"] != "approved" || !exists(f.dir, "models/qwen.yaml") {
		t.Fatalf("approve: %v", out)
	}
	if got := git(t, f.dir, "log", "-1", "--format=%an|%s|%p"); !strings.HasPrefix(got, "alice|agent approve: "+id+" (model create: qwen; model update: tiny)|") || len(strings.Fields(strings.Split(got, "|")[2])) != 2 {
		t.Errorf("approve commit %q: want one merge commit by alice", got)
	}
	if git(t, f.dir, "status", "--porcelain") != "" || strings.Contains(git(t, f.dir, "branch"), "agent/") {
		t.Errorf("after approve: status %q, branches %q", git(t, f.dir, "status", "--porcelain"), git(t, f.dir, "branch"))
	}
	if _, err := unit.Default.Call(context.Background(), f.env, "agent.approve", map[string]any{"id": id}); !errors.Is(err, state.ErrConflict) {
		t.Errorf("approving twice: %v", err)
	}
	list := f.call(t, "agent.list", nil)
	if items := list["items"].([]map[string]any); len(items) != 1 || items[0]["proposal"] != "approved" {
		t.Errorf("list %v", list)
	}
}

// TestApproveConflict: the working branch changed the same file since the
// proposal: nothing is applied, the error says what to do; reject drops it.
func TestApproveConflict(t *testing.T) {
	f := newFixture(t)
	res, _ := f.ask(t, operator.Request{Message: "call model_update {\"name\": \"tiny\", \"tag\": \"agent\"}"})
	f.call(t, "model.update", map[string]any{"name": "tiny", "tag": "human"})
	head := git(t, f.dir, "rev-parse", "HEAD")
	_, err := unit.Default.Call(context.Background(), f.env, "agent.approve", map[string]any{"id": res.Conversation})
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "models/tiny.yaml") || !strings.Contains(err.Error(), "aima agent reject "+res.Conversation) {
		t.Fatalf("approve: %v", err)
	}
	if git(t, f.dir, "rev-parse", "HEAD") != head {
		t.Error("a refused approval moved the branch")
	}
	out := f.call(t, "agent.reject", map[string]any{"id": res.Conversation})
	if out["status"] != "rejected" || strings.Contains(git(t, f.dir, "branch"), "agent/") || exists(f.dir, ".local/proposals/"+res.Conversation) {
		t.Errorf("reject: %v, branches %q", out, git(t, f.dir, "branch"))
	}
	// A proposal on another file merges although main moved on.
	res, _ = f.ask(t, operator.Request{Message: "call model_create {\"name\": \"other\", \"source\": \"ollama\"}"})
	f.call(t, "model.update", map[string]any{"name": "tiny", "tag": "again"})
	if out := f.call(t, "agent.approve", map[string]any{"id": res.Conversation}); out["status"] != "approved" || !exists(f.dir, "models/other.yaml") {
		t.Errorf("approve after main moved: %v", out)
	}
}

// TestApprovePortTaken: a proposed service's port, free when proposed, was
// given to another service since: nothing is applied.
func TestApprovePortTaken(t *testing.T) {
	f := newFixture(t)
	res, _ := f.ask(t, operator.Request{Message: "call service_create {\"name\": \"a\", \"model\": \"tiny\", \"engine\": \"stub\"}"})
	b := f.call(t, "service.create", map[string]any{"name": "b", "model": "tiny", "engine": "stub"})
	_, err := unit.Default.Call(context.Background(), f.env, "agent.approve", map[string]any{"id": res.Conversation})
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("host port %v, which service b has taken", b["port"])) {
		t.Fatalf("approve: %v", err)
	}
	if exists(f.dir, "services/a.yaml") {
		t.Error("applied")
	}
}

// TestAskYes: writes at once, as the caller, with the conversation trailer.
func TestAskYes(t *testing.T) {
	f := newFixture(t)
	ctx := state.WithAuthor(context.Background(), operator.Author)
	res, err := f.op.Ask(ctx, operator.Request{Message: "call model_create {\"name\": \"now\", \"source\": \"ollama\"}", Yes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !exists(f.dir, "models/now.yaml") || res.Proposal != nil {
		t.Fatalf("--yes did not write: %+v", res)
	}
	if got := git(t, f.dir, "log", "-1", "--format=%an|%s|%(trailers:key=Conversation,valueonly)"); got != "aima-agent|model create: now|"+res.Conversation {
		t.Errorf("commit %q", got)
	}
}

// TestToolErrorAndRoundLimit: a failing tool is the model's to read; the
// round limit stops the turn clearly and keeps the conversation.
func TestToolErrorAndRoundLimit(t *testing.T) {
	f := newFixture(t)
	res, evs := f.ask(t, operator.Request{Message: "call service_get {\"id\": \"nope\"}\ncall no_such_tool {}\ncall model_get {\"id\": 3"})
	if got := strings.Join(tools(evs), ","); got != "service_get (error),no_such_tool (error),model_get (error)" {
		t.Errorf("tools %q", got)
	}
	if !strings.Contains(res.Answer, "service.get failed (not_found)") || !strings.Contains(res.Answer, `no tool "no_such_tool"`) || !strings.Contains(res.Answer, "must be a JSON object") {
		t.Errorf("answer %q", res.Answer)
	}
	res, evs = f.ask(t, operator.Request{Conversation: res.Conversation, MaxRounds: 3, Message: strings.Repeat("call model_list {}\n", 5)})
	if len(tools(evs)) != 3 || !strings.Contains(res.Stopped, "stopped after 3 rounds") || evs[len(evs)-1].Type != "stop" {
		t.Errorf("round limit: stopped %q, %d tool calls", res.Stopped, len(tools(evs)))
	}
	show, err := f.op.Show(res.Conversation)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(show["messages"].([]operator.Message)); n != (1+3*2+1)+(1+3*2) { // turn 1: user, 3×(call, result), answer; turn 2: user, 3×(call, result)
		t.Errorf("%d messages kept", n)
	}
}

// TestNoLLM: nothing set and nothing running: the error says how to set one.
func TestNoLLM(t *testing.T) {
	f := newFixture(t)
	writeSettings(t, f.dir, "")
	_, err := f.op.Ask(context.Background(), operator.Request{Message: "hello"}, nil)
	if !errors.Is(err, operator.ErrNoLLM) || !strings.Contains(err.Error(), "--llm MODEL") || !strings.Contains(err.Error(), "llm: {endpoint:") {
		t.Errorf("err %v", err)
	}
	writeSettings(t, f.dir, "llm:\n  endpoint: http://127.0.0.1:1/v1\n  model: x\n  api_key: ${env:AIMA_TEST_NO_SUCH_KEY}\n")
	if _, err := f.op.Ask(context.Background(), operator.Request{Message: "hello"}, nil); err == nil || !strings.Contains(err.Error(), "AIMA_TEST_NO_SUCH_KEY is not set") {
		t.Errorf("unset key: %v", err)
	}
}

// TestConversationSurvives: a new operator (a restart) continues a
// conversation with its history.
func TestConversationSurvives(t *testing.T) {
	f := newFixture(t)
	res, _ := f.ask(t, operator.Request{Message: "call model_list {}"})
	st, err := daemon.OpenStore(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	env := daemon.UnitEnv(st, nil, nil)
	op := env.Operator.(*operator.Operator)
	res2, err := op.Ask(context.Background(), operator.Request{Conversation: res.Conversation, Message: "call service_list {}"}, nil)
	if err != nil || res2.Conversation != res.Conversation {
		t.Fatalf("continue: %+v %v", res2, err)
	}
	show, _ := op.Show(res.Conversation)
	var users []string
	for _, m := range show["messages"].([]operator.Message) {
		if m.Role == "user" {
			users = append(users, m.Content)
		}
	}
	if strings.Join(users, "|") != "call model_list {}|call service_list {}" {
		t.Errorf("user messages %q", users)
	}
	if _, err := unit.Default.Call(context.Background(), env, "agent.delete", map[string]any{"id": res.Conversation}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Show(res.Conversation); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

// TestChatSSE: the HTTP route streams each tool call and the answer.
func TestChatSSE(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.op.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"message": "call model_list {}"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []string
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			if event = ev; ev != "delta" || events[len(events)-1] != "delta" {
				events = append(events, ev)
			}
		}
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && event == "delta" {
			var ev operator.Event
			_ = json.Unmarshal([]byte(data), &ev)
			text.WriteString(ev.Content)
		}
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" || strings.Join(events, ",") != "start,tool,delta,answer,done" || !strings.HasPrefix(text.String(), "done: {") {
		t.Errorf("%s: events %v, text %q", resp.Header.Get("Content-Type"), events, text.String())
	}
	resp2, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"mesage": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 422 || !strings.Contains(string(b), "mesage") {
		t.Errorf("bad body: %d %s", resp2.StatusCode, b)
	}
}

// TestWhatTheModelIsSent: the registry's units as tools, but none of the
// agent domain (a model cannot approve its own proposal); the skills that
// match the question in the system message; the writes' mode said.
func TestWhatTheModelIsSent(t *testing.T) {
	f := newFixture(t)
	f.call(t, "skill.create", map[string]any{"name": "gpu-triage", "description": "Why a GPU service fails",
		"keywords": []string{"gpu", "triage"}, "content": "Check nvidia-smi first, then the engine's logs."})
	f.ask(t, operator.Request{Message: "gpu triage please"})
	f.mu.Lock()
	req := f.last
	f.mu.Unlock()
	tools := map[string]map[string]any{}
	for _, tl := range req["tools"].([]any) {
		fn := tl.(map[string]any)["function"].(map[string]any)
		tools[fn["name"].(string)] = fn
	}
	for _, u := range unit.Default.List() {
		_, offered := tools[unit.ToolName(u.Name)]
		if agentDomain := strings.HasPrefix(u.Name, "agent."); offered == agentDomain {
			t.Errorf("tool %s offered: %v", unit.ToolName(u.Name), offered)
		}
	}
	props := tools["service_create"]["parameters"].(map[string]any)["properties"].(map[string]any)
	if props["model"] == nil || props["engine"] == nil {
		t.Errorf("service_create's parameters: %v", props)
	}
	system := req["messages"].([]any)[0].(map[string]any)
	content := system["content"].(string)
	if system["role"] != "system" || !strings.Contains(content, "Check nvidia-smi first") || !strings.Contains(content, "proposed, not applied") {
		t.Errorf("system message: %s", content)
	}
}

// TestStreamedCallInParts: a tool call streamed in parts (its name first,
// its arguments in pieces) is put together; an endpoint answering a whole
// completion instead of a stream is read too.
func TestStreamedCallInParts(t *testing.T) {
	f := newFixture(t)
	round := 0
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		round++
		if round > 1 {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices": [{"message": {"role": "assistant", "content": "there is one model"}}]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []string{
			`{"choices":[{"delta":{"role":"assistant","content":"Let me look."}}]}`,
			`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a1","type":"function","function":{"name":"model_","arguments":""}}]}}]}`,
			`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"id\": "}}]}}]}`,
			`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"tiny\"}"}}]},"finish_reason":"tool_calls"}]}`,
		} {
			io.WriteString(w, "data: "+c+"\n\n")
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(llm.Close)
	writeSettings(t, f.dir, "llm: {endpoint: "+llm.URL+", model: any}\n")
	res, evs := f.ask(t, operator.Request{Message: "which models?"})
	var call operator.Event
	for _, e := range evs {
		if e.Type == "tool" {
			call = e
		}
	}
	if call.Tool != "model_get" || call.Arguments != `{"id": "tiny"}` || call.Error || !strings.Contains(call.Result, `"repo":"tinyllama"`) {
		t.Errorf("tool call %+v", call)
	}
	if res.Answer != "there is one model" {
		t.Errorf("answer %q", res.Answer)
	}
	show, _ := f.op.Show(res.Conversation)
	if m := show["messages"].([]operator.Message)[1]; m.Content != "Let me look." || len(m.ToolCalls) != 1 || m.ToolCalls[0].ID != "a1" {
		t.Errorf("the streamed message as kept: %+v", m)
	}
}
