package stub_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scriptedReply is the part of a chat answer the scripted mode sets.
type scriptedReply struct {
	Choices []struct {
		Message struct {
			Content   string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

const tools = `[{"type":"function","function":{"name":"model_list","parameters":{"type":"object"}}}]`

func scripted(t *testing.T, url string, messages ...map[string]any) scriptedReply {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "m", "tools": json.RawMessage(tools), "messages": messages})
	status, b := do(t, "POST", url+"/v1/chat/completions", string(body))
	if status != 200 {
		t.Fatalf("chat = %d %s", status, b)
	}
	var r scriptedReply
	decodeJSON(t, b, &r)
	return r
}

// TestScriptedToolCalls: one call per round, in the order of the lines,
// then "done:" with every result.
func TestScriptedToolCalls(t *testing.T) {
	srv := newServer(t, "m")
	user := map[string]any{"role": "user", "content": "please\ncall model_list {}\ncall service_get {\"id\": \"x\"}"}
	msgs := []map[string]any{{"role": "system", "content": "be brief"}, user}
	type call struct{ ID, Name, Args, Finish string }
	var got []call
	for round := 0; round < 3; round++ {
		r := scripted(t, srv.URL, msgs...)
		c := r.Choices[0]
		if len(c.Message.ToolCalls) == 0 {
			if want := "done: 2 models done: not found"; c.Message.Content != want || c.FinishReason != "stop" {
				t.Fatalf("round %d: answer %q (%s), want %q (stop)", round, c.Message.Content, c.FinishReason, want)
			}
			break
		}
		tc := c.Message.ToolCalls[0]
		got = append(got, call{tc.ID, tc.Function.Name, tc.Function.Arguments, c.FinishReason})
		msgs = append(msgs, map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{tc}},
			map[string]any{"role": "tool", "tool_call_id": tc.ID, "content": []string{"2 models", "done: not found"}[round]})
	}
	want := []call{{"call_1", "model_list", "{}", "tool_calls"}, {"call_2", "service_get", `{"id": "x"}`, "tool_calls"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tool calls (-want +got):\n%s", diff)
	}
}

// TestScriptedNeedsTools: without tools, or without call lines, the stub
// answers as always.
func TestScriptedNeedsTools(t *testing.T) {
	srv := newServer(t, "m")
	status, b := do(t, "POST", srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"call model_list {}"}]}`)
	if status != 200 || !strings.Contains(string(b), "stub answer from m: call model_list") {
		t.Errorf("no tools: %d %s", status, b)
	}
	r := scripted(t, srv.URL, map[string]any{"role": "user", "content": "hello"})
	if got := r.Choices[0].Message.Content; got != "stub answer from m: hello" {
		t.Errorf("no call lines: %q", got)
	}
}

// TestScriptedLongResult: results are cut in the final answer.
func TestScriptedLongResult(t *testing.T) {
	srv := newServer(t, "m")
	long := strings.Repeat("x", 1000)
	r := scripted(t, srv.URL, map[string]any{"role": "user", "content": "call model_list"},
		map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "model_list", "arguments": "{}"}}}},
		map[string]any{"role": "tool", "tool_call_id": "call_1", "content": long})
	if got := r.Choices[0].Message.Content; !strings.HasPrefix(got, "done: xxx") || len(got) > 420 || !strings.HasSuffix(got, "...") {
		t.Errorf("answer %d bytes: %.60q", len(got), got)
	}
}

// TestScriptedStream: a streamed round carries the call as a delta.
func TestScriptedStream(t *testing.T) {
	srv := newServer(t, "m")
	body, _ := json.Marshal(map[string]any{"model": "m", "stream": true, "tools": json.RawMessage(tools),
		"messages": []any{map[string]any{"role": "user", "content": "call model_list {}"}}})
	status, b := do(t, "POST", srv.URL+"/v1/chat/completions", string(body))
	if status != 200 || !strings.Contains(string(b), `"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"model_list","arguments":"{}"}}]`) ||
		!strings.Contains(string(b), `"finish_reason":"tool_calls"`) {
		t.Errorf("stream: %d %s", status, b)
	}
}
