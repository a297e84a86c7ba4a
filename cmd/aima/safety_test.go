package main

// Issue 11, "safe by default": each test attacks one bound through the real
// binary and shows that the attack fails and the legitimate path works.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEngineTemplateBombRefused: a 30-byte {{range}} in an engine's args
// once made a running agent send Docker a 3 GB container config. Through
// the CLI (engine create, apply -f), the API and a hand edit, it is refused
// within a second, naming engines/<name>.yaml and the argument; an engine
// with {{.Port}} still serves a running service, which the refused update
// leaves alone.
func TestEngineTemplateBombRefused(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	const bomb = `{{range 1000000000}}x{{end}}`

	// The legitimate engine: the stub, through templates.
	e.mustAima("engine", "create", "--name", "good", "--type", "stub", "--image", "aima-stub", "--port", "8000",
		"--args=--addr", "--args=:{{.Port}}", "--args=--model", "--args={{if .ModelPath}}{{.ModelPath}}{{else}}{{.ModelName}}{{end}}",
		"--health-path", "/health", "--health-interval", "1s", "--health-timeout", "30s", "--gpu", "none", "--api", "openai")
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "chat", "--model-id", "tiny", "--engine-type", "good")
	running := e.waitStatus("chat", "running", 60*time.Second)
	resp := e.mustCall("POST", "/v1/chat/completions", `{"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}`, http.StatusOK)
	if b, _ := json.Marshal(resp); !strings.Contains(string(b), "stub answer from tiny: hi") {
		t.Errorf("the templated engine does not serve: %s", b)
	}
	head := e.mustGit("rev-parse", "HEAD")

	// CLI: engine create and apply -f.
	start := time.Now()
	_, stderr, code := e.aima("engine", "create", "--name", "bomb", "--image", "aima-stub", "--args=--addr", "--args="+bomb)
	if d := time.Since(start); code == 0 || !strings.Contains(stderr, "engines/bomb.yaml") || !strings.Contains(stderr, "args.1") || !strings.Contains(stderr, "{{range}}") || d > time.Second {
		t.Errorf("aima engine create with a bomb: exit %d after %s: %s", code, d, stderr)
	}
	f := filepath.Join(t.TempDir(), "bomb.yaml")
	os.WriteFile(f, []byte("kind: engine\nname: bomb\nimage: aima-stub\nargs:\n  - '"+bomb+"'\n"), 0o644)
	if _, stderr, code := e.aima("apply", "-f", f); code == 0 || !strings.Contains(stderr, "args.0") || !strings.Contains(stderr, "{{range}}") {
		t.Errorf("aima apply -f with a bomb: exit %d: %s", code, stderr)
	}

	// API: create, and an update of the engine the running service uses.
	for _, req := range []struct{ path, body, field string }{
		{"/api/engine/create", `{"name": "bomb", "image": "aima-stub", "args": ["` + bomb + `"]}`, "/args/0"},
		{"/api/engine/update", `{"name": "good", "args": ["--addr", ":{{.Port}}", "` + bomb + `"]}`, "/args/2"},
	} {
		start := time.Now()
		code, b, err := e.call("POST", req.path, req.body)
		d := time.Since(start)
		var doc struct {
			Error struct {
				Details []struct{ File, Field, Message string }
			}
		}
		json.Unmarshal(b, &doc)
		det := doc.Error.Details
		if err != nil || code != http.StatusUnprocessableEntity || d > time.Second || len(det) != 1 || !strings.HasPrefix(det[0].File, "engines/") || det[0].Field != req.field {
			t.Errorf("POST %s with a bomb: %d %v after %s: %s", req.path, code, err, d, b)
		}
	}
	if got := e.mustGit("rev-parse", "HEAD"); got != head {
		t.Errorf("a refused write committed: %s", e.mustGit("log", "--oneline", "-3"))
	}

	// A hand edit (as a pull or an editor would leave it) is reported
	// invalid by the running agent and never rendered: the last committed
	// engine stays in effect and the service keeps its container.
	good := filepath.Join(e.dir, "engines", "good.yaml")
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	var edited []string
	for _, line := range strings.Split(string(orig), "\n") {
		if strings.Contains(line, "{{.Port}}") {
			line = "  - '" + bomb + "'"
		}
		edited = append(edited, line)
	}
	os.WriteFile(good, []byte(strings.Join(edited, "\n")), 0o644)
	waitUntil(t, 5*time.Second, "the agent reports the edited engine invalid", func() (bool, string) {
		code, b, err := e.call("GET", "/api/status", "")
		return err == nil && code == http.StatusOK && strings.Contains(string(b), `"file":"engines/good.yaml"`) && strings.Contains(string(b), `"field":"/args/1"`), string(b)
	})
	if got := e.mustGit("rev-parse", "HEAD"); got != head {
		t.Errorf("the agent committed the bomb: %s", e.mustGit("log", "--oneline", "-3"))
	}
	e.mustCall("POST", "/api/sync", `{}`, http.StatusOK)
	if now := e.waitStatus("chat", "running", 10*time.Second); now["container"] != running["container"] {
		t.Errorf("the service was recreated: %v -> %v", running["container"], now["container"])
	}
	// Reverted, the file is valid again and nothing is left to commit.
	os.WriteFile(good, orig, 0o644)
	waitUntil(t, 5*time.Second, "the problem clears", func() (bool, string) {
		_, b, _ := e.call("GET", "/api/status", "")
		return !strings.Contains(string(b), "engines/good.yaml"), string(b)
	})
	e.checkGit(false)
}
