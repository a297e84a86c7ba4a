package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/state"
)

// startAgent runs daemon.Run in-process on a fresh state directory with a
// unique instance and returns the state dir and the API base URL.
func startAgent(t *testing.T) (dir, base string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), ".aima")
	st, _ := state.Open(dir)
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Dir: dir, Addr: "127.0.0.1:0", Token: testToken, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string) { ready <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent exit: %v", err)
		}
	})
	select {
	case a := <-ready:
		return dir, "http://" + a
	case err := <-done:
		t.Fatalf("agent did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not start within 20s")
	}
	return "", ""
}

// testToken is the extra token the in-process agents accept.
const testToken = "run-test-token"

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

// eventually polls cond every 20 ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestExternalEdits: files edited outside aima (an editor's temp-and-rename
// save, a plain write, a delete) reach the API within a second and are
// committed by the agent; an invalid edit is reported with its position
// and not applied.
func TestExternalEdits(t *testing.T) {
	dir, base := startAgent(t)
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)

	// An editor-style save: write a temp file, rename it over the target.
	tmp := filepath.Join(dir, "models", ".hand.yaml.swp")
	os.WriteFile(tmp, []byte("name: hand\nsource: ollama\nrepo: tinyllama\n"), 0o644)
	start := time.Now()
	if err := os.Rename(tmp, filepath.Join(dir, "models", "hand.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "hand-written model visible through the API", func() bool {
		var m map[string]any
		return getJSON(t, base+"/api/model/get?id=hand", &m) == 200 && m["repo"] == "tinyllama"
	})
	t.Logf("external edit visible after %s", time.Since(start))
	eventually(t, 2*time.Second, "edit committed", func() bool {
		return strings.Contains(gitOut(t, dir, "log", "-1", "--format=%s"), "edit: models/hand.yaml")
	})
	if s := gitOut(t, dir, "status", "--porcelain"); strings.TrimSpace(s) != "" {
		t.Errorf("git status after the agent's commit:\n%s", s)
	}

	// An invalid edit: reported with file, line and column; not applied.
	os.WriteFile(filepath.Join(dir, "models", "hand.yaml"), []byte("name: hand\nsource: dropbox\n"), 0o644)
	eventually(t, 2*time.Second, "invalid file reported in /api/status", func() bool {
		var st map[string]any
		getJSON(t, base+"/api/status", &st)
		b, _ := json.Marshal(st["problems"])
		return strings.Contains(string(b), "models/hand.yaml") && strings.Contains(string(b), `"line":2`)
	})
	var m map[string]any
	getJSON(t, base+"/api/model/get?id=hand", &m)
	if m["repo"] != "tinyllama" || m["source"] != "ollama" {
		t.Errorf("invalid edit applied: %v", m)
	}
	if msg := gitOut(t, dir, "log", "-1", "--format=%s"); !strings.Contains(msg, "edit: models/hand.yaml") {
		t.Errorf("invalid edit committed? last commit %q", msg)
	}

	// Deleting the file deletes the object.
	os.Remove(filepath.Join(dir, "models", "hand.yaml"))
	eventually(t, 2*time.Second, "deleted object gone from the API", func() bool {
		var e map[string]any
		return getJSON(t, base+"/api/model/get?id=hand", &e) == 404
	})
	eventually(t, 2*time.Second, "delete committed", func() bool {
		return strings.TrimSpace(gitOut(t, dir, "status", "--porcelain")) == "" &&
			!strings.Contains(gitOut(t, dir, "ls-files"), "models/hand.yaml")
	})

	// A new kind directory created by hand is watched too.
	os.MkdirAll(filepath.Join(dir, "alerts"), 0o755)
	os.WriteFile(filepath.Join(dir, "alerts", "hot.yaml"), []byte("condition: gpu_temp > 80\n"), 0o644)
	eventually(t, 2*time.Second, "alert in a new directory committed", func() bool {
		return strings.Contains(gitOut(t, dir, "log", "-1", "--format=%s"), "alerts/hot.yaml")
	})
}

// TestRepairOnStart: a crash between write and commit leaves a valid file
// uncommitted; the next start commits it, and reports an invalid one.
func TestRepairOnStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".aima")
	st, _ := state.Open(dir)
	st.Init()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.WriteFile(filepath.Join(dir, "models", "orphan.yaml"), []byte("name: orphan\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "models", "broken.yaml"), []byte("name: broken\nsize: [\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Dir: dir, Addr: "127.0.0.1:0", Token: testToken, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string) { ready <- a }})
	}()
	defer func() { cancel(); <-done }()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		t.Fatal(err)
	}
	if !strings.Contains(gitOut(t, dir, "ls-files"), "models/orphan.yaml") {
		t.Error("uncommitted valid file not committed at start")
	}
	if strings.Contains(gitOut(t, dir, "ls-files"), "models/broken.yaml") {
		t.Error("invalid file committed")
	}
	var s map[string]any
	getJSON(t, base+"/api/status", &s)
	if b, _ := json.Marshal(s["problems"]); !strings.Contains(string(b), "models/broken.yaml") {
		t.Errorf("invalid file not reported: %s", b)
	}
	if out := gitOut(t, dir, "status", "--porcelain"); !strings.Contains(out, "broken.yaml") || strings.Contains(out, "orphan.yaml") {
		t.Errorf("git status: %s", out)
	}
}

// TestVerbsCommitAsTheirAuthor: every write made for an API request — a
// plain create, a service verb, a unit call — is a commit whose author is
// the request's X-Aima-Author, so `aima log` says who did it.
func TestVerbsCommitAsTheirAuthor(t *testing.T) {
	dir, base := startAgent(t)
	post := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("X-Aima-Author", "Ada Lovelace <ada@example.com>")
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
	}
	post("/api/model/create", `{"name": "m", "source": "ollama", "repo": "tinyllama"}`)
	// vllm needs a GPU this machine lacks: the service fails, no container.
	post("/api/service/create", `{"name": "s", "model_id": "m", "engine_type": "vllm"}`)
	post("/api/service/stop", `{"id": "s"}`)
	post("/api/unit/call", `{"unit": "skill.disable", "params": {"name": "setup-llm-service"}}`)
	log := gitOut(t, dir, "log", "-4", "--format=%an <%ae>|%s")
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.HasPrefix(line, "Ada Lovelace <ada@example.com>|") {
			t.Errorf("commit not authored by the request's X-Aima-Author: %s", line)
		}
	}
	if !strings.Contains(log, "service stop: s") || !strings.Contains(log, "skill") {
		t.Errorf("the verbs' commits are missing:\n%s", log)
	}
}
