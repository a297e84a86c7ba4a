package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOllamaEngine: an engine file with the stub image and api: ollama is
// an Ollama engine. Its service is not running until aima has pulled the
// model through Ollama's API — `service start --wait` shows the pull's
// progress — and then answers through the gateway under the aima model's
// name; a model Ollama cannot pull fails with Ollama's error.
func TestOllamaEngine(t *testing.T) {
	e := newAimaEnv(t, 3)
	engine := "name: ollama-stub\ntype: ollama\nimage: aima-stub\nargs: ['--addr', ':{{.Port}}']\nport: 11434\n" +
		"health: {path: /api/version, interval: 1s, timeout: 1m}\nenv: {AIMA_STUB_PULL_STEP: 300ms}\ngpu: none\napi: ollama\n"
	if err := os.MkdirAll(filepath.Join(e.dir, "engines"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "engines", "ollama-stub.yaml"), []byte(engine), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustAima("sync") // records the engine file
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "o", "--model-id", "tiny", "--engine", "ollama-stub", "--state", "stopped")

	stdout, stderr, code := e.aima("service", "start", "o", "--wait", "--timeout", "90s")
	if code != 0 || !strings.Contains(stdout, "service/o: running") {
		t.Fatalf("start --wait: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "service/o: starting: pulling tinyllama: ") || !strings.Contains(stderr, "% of 1.0 MB") {
		t.Errorf("start --wait showed no pull progress:\n%s", stderr)
	}

	// Through the gateway, by the aima model's name.
	e.startAgent()
	waitUntil(t, 30*time.Second, "the gateway answers for tiny", func() (bool, string) {
		req, _ := http.NewRequest("POST", "http://"+e.addr+"/v1/chat/completions", strings.NewReader(`{"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}`))
		e.authorize(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var a struct {
			Choices []struct{ Message struct{ Content string } }
		}
		_ = json.Unmarshal(b, &a)
		return resp.StatusCode == 200 && len(a.Choices) == 1 && a.Choices[0].Message.Content == "stub answer from tiny: hi", string(b)
	})

	// A model the registry does not have.
	e.mustAima("model", "create", "--name", "nope", "--source", "ollama", "--repo", "missing-model")
	e.mustAima("service", "create", "--name", "bad", "--model-id", "nope", "--engine", "ollama-stub")
	st := e.waitStatus("bad", "failed", 60*time.Second)
	if r, _ := st["reason"].(string); !strings.Contains(r, "pulling missing-model: ") || !strings.Contains(r, "file does not exist") {
		t.Errorf("failed pull: reason %q", r)
	}
}
