package main

// Issue 11, "safe by default": each test attacks one bound through the real
// binary and shows that the attack fails and the legitimate path works.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aima-dev/aima/internal/testenv"
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

// TestFullDiskCLIWriteLeavesTheFile: `aima model update` and `aima model
// delete` on a full disk (a small tmpfs, filled, then given 0, 1, 2, ...
// free pages) fail with an error saying so, and leave the file's bytes,
// the branch and the work tree exactly as they were; with room they work.
func TestFullDiskCLIWriteLeavesTheFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test mounts a small tmpfs to fill it (run as root, or in a container with CAP_SYS_ADMIN)")
	}
	bin := testenv.Aima(t)
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): the test needs a small disk to fill", err)
	}
	filler, err := os.OpenFile(filepath.Join(mnt, "filler"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filler.Close()
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	const page = 4096
	// leave fills the disk, then frees exactly pages pages.
	leave := func(pages int) {
		t.Helper()
		buf := bytes.Repeat([]byte{'f'}, page)
		size, _ := filler.Seek(0, io.SeekEnd)
		for {
			n, err := filler.WriteAt(buf, size)
			size += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := filler.Truncate(size/page*page - int64(pages*page)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(mnt, ".aima")
	home := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "AIMA_DIR="+dir, "AIMA_AUTHOR=aima-test <test@aima.invalid>", "HOME="+home)
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("aima %s: %v", strings.Join(args, " "), err)
		}
		return string(out), c.ProcessState.ExitCode()
	}
	git := func(args ...string) string {
		t.Helper()
		c := exec.Command("git", append([]string{"-C", dir}, args...)...)
		c.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+home)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, args := range [][]string{{"init"}, {"model", "create", "--name", "upd", "--source", "ollama", "--repo", "original"},
		{"model", "create", "--name", "del", "--source", "ollama", "--repo", "original"}} {
		if out, code := run(args...); code != 0 {
			t.Fatalf("aima %s: %d %s", strings.Join(args, " "), code, out)
		}
	}
	failed := 0
	for free := 0; free <= 24; free++ {
		for _, args := range [][]string{
			{"model", "update", "upd", "--repo", fmt.Sprintf("changed-%d-%s", free, strings.Repeat("x", 2*page))},
			{"model", "delete", "del"},
		} {
			file := filepath.Join(dir, "models", args[2]+".yaml")
			before, _ := os.ReadFile(file)
			head := git("rev-parse", "HEAD")
			leave(free)
			out, code := run(args...)
			filler.Truncate(0)
			if code == 0 {
				if git("rev-parse", "HEAD") == head {
					t.Errorf("aima %s succeeded without a commit", strings.Join(args[:3], " "))
				}
				if args[1] == "delete" {
					run("model", "create", "--name", "del", "--source", "ollama", "--repo", "again")
				}
				continue
			}
			failed++
			if !strings.Contains(out, "no space left on device") {
				t.Errorf("aima %s with %d free pages: exit %d: %s, want the disk named as full", strings.Join(args[:3], " "), free, code, out)
			}
			if now, _ := os.ReadFile(file); !bytes.Equal(now, before) {
				t.Fatalf("aima %s with %d free pages failed but changed the file:\nwas %.200q\nnow %.200q", strings.Join(args[:3], " "), free, before, now)
			}
			if git("rev-parse", "HEAD") != head {
				t.Fatalf("aima %s with %d free pages failed but committed", strings.Join(args[:3], " "), free)
			}
			if st := git("status", "--porcelain", "--untracked-files=all"); st != "" {
				t.Fatalf("aima %s with %d free pages left the work tree changed:\n%s", strings.Join(args[:3], " "), free, st)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no write failed: the disk was never full enough")
	}
}

// TestMissingGitRefusedByStart: `aima start` and a CLI write on a state
// directory whose .git disappeared exit with a message saying how to
// recover, and create no repository; the demo state directory, committed
// in this project as files without .git, still starts as `make run` does
// (its repository is created, its service converges).
func TestMissingGitRefusedByStart(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	if err := os.RemoveAll(filepath.Join(e.dir, ".git")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"start", "--addr", e.addr}, {"model", "create", "--name", "other", "--source", "ollama", "--repo", "x"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := e.command(ctx, args...)
		out, err := c.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut || !strings.Contains(string(out), "git repository is missing") || !strings.Contains(string(out), "aima init --from") || !strings.Contains(string(out), ".local/repository") {
			t.Errorf("aima %s without .git: %v\n%s", args[0], err, out)
		}
		if _, err := os.Stat(filepath.Join(e.dir, ".git")); err == nil {
			t.Fatalf("aima %s created a new repository", args[0])
		}
	}

	// The demo directory: files, no .git, no marker. Its settings are made
	// this test's own (instance, API address, ports), nothing else.
	demo := &aimaEnv{t: t, bin: e.bin, docker: e.docker, dir: filepath.Join(t.TempDir(), ".aima"), instance: testenv.Instance(t),
		addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), home: t.TempDir()}
	testenv.RemoveContainers(t, demo.docker, demo.instance)
	if out, err := exec.Command("cp", "-r", filepath.Join("..", "..", ".aima"), demo.dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the demo: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(demo.dir, ".git"))
	os.RemoveAll(filepath.Join(demo.dir, ".local"))
	lo := freeRange(t, 2)
	os.WriteFile(filepath.Join(demo.dir, "aima.yaml"), []byte(fmt.Sprintf("format: 1\ninstance: %s\napi: %s\nresync: 3s\nport_range: %d-%d\n", demo.instance, demo.addr, lo, lo+1)), 0o644)
	svc := filepath.Join(demo.dir, "services", "tinyllama-stub.yaml")
	b, err := os.ReadFile(svc)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(svc, []byte(strings.Replace(string(b), "port: 8000", fmt.Sprintf("port: %d", lo), 1)), 0o644)
	demo.startAgent()
	if files := demo.mustGit("ls-files"); !strings.Contains(files, "services/tinyllama-stub.yaml") || !strings.Contains(files, "models/tinyllama.yaml") {
		t.Errorf("the demo's files are not committed:\n%s", files)
	}
	demo.waitStatus("tinyllama-stub", "running", 60*time.Second)
	demo.checkGit(false)
}
