package stub_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOllamaAPI: a model is "not found, try pulling it first" until it is
// pulled; a pull streams progress lines ending in success; then /api/tags
// lists it, /api/copy names it anew, and /api/chat and /api/generate
// answer as it (streamed by default, one object with stream: false); a
// model the registry does not have fails to pull.
func TestOllamaAPI(t *testing.T) {
	srv := newServer(t, "stub")
	if code, body := do(t, "POST", srv.URL+"/api/chat", `{"model": "tinyllama", "messages": [{"role": "user", "content": "hi"}]}`); code != 404 || !strings.Contains(string(body), "try pulling it first") {
		t.Errorf("chat before the pull: %d %s", code, body)
	}
	code, body := do(t, "POST", srv.URL+"/api/pull", `{"model": "tinyllama"}`)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var last, progress map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("pull line %q: %v", l, err)
		}
		if m["completed"] != nil {
			progress = m
		}
		last = m
	}
	if code != 200 || last["status"] != "success" || progress == nil || progress["completed"] != progress["total"] {
		t.Errorf("pull: %d, last line %v, last progress %v", code, last, progress)
	}
	_, body = do(t, "GET", srv.URL+"/api/tags", "")
	if !strings.Contains(string(body), `"name":"tinyllama:latest"`) {
		t.Errorf("tags after the pull: %s", body)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/copy", `{"source": "tinyllama", "destination": "tiny"}`); code != 200 {
		t.Errorf("copy: %d", code)
	}
	code, body = do(t, "POST", srv.URL+"/api/chat", `{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": false}`)
	var chat struct {
		Message struct{ Content string }
		Done    bool
	}
	if err := json.Unmarshal(body, &chat); code != 200 || err != nil || chat.Message.Content != "stub answer from tiny: hi" || !chat.Done {
		t.Errorf("chat as the copy: %d %s", code, body)
	}
	code, body = do(t, "POST", srv.URL+"/api/generate", `{"model": "tinyllama", "prompt": "hey"}`)
	var text strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var m struct{ Response string }
		_ = json.Unmarshal([]byte(l), &m)
		text.WriteString(m.Response)
	}
	if code != 200 || text.String() != "stub answer from tinyllama: hey" {
		t.Errorf("generate (streamed): %d %q", code, text.String())
	}
	if code, body := do(t, "POST", srv.URL+"/api/pull", `{"model": "missing-model"}`); code == 200 || !strings.Contains(string(body), "file does not exist") {
		t.Errorf("pull of a model the registry lacks: %d %s", code, body)
	}
}
