package main

// These tests drive the real aima binary (built once by testenv.Aima) against
// the real Docker daemon: the agent is started as a process, killed with
// SIGKILL or stopped with SIGTERM, and what survives is checked through the
// CLI, the HTTP API, git and the Docker SDK. Each test owns a state
// directory, an API port, a host port range and an aima instance id, so the
// tests can run next to each other and next to other packages' tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/plan"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/aima-dev/aima/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// aimaEnv is one state directory driven through the aima binary.
type aimaEnv struct {
	t        *testing.T
	bin      string
	dir      string // the state directory (.aima)
	instance string
	addr     string // the agent's API address
	docker   *client.Client
	// env is added to the environment of every aima process (DOCKER_HOST).
	env []string
	// home is git's HOME, so no user configuration changes its output.
	home string
}

// newAimaEnv initialises a state directory whose aima.yaml names a unique
// instance, a free API port and a free host port range of ports ports, and
// registers the removal of the instance's containers.
func newAimaEnv(t *testing.T, ports int) *aimaEnv {
	t.Helper()
	e := &aimaEnv{
		t:        t,
		bin:      testenv.Aima(t),
		docker:   testenv.Docker(t),
		dir:      filepath.Join(t.TempDir(), ".aima"),
		instance: testenv.Instance(t),
		addr:     fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		home:     t.TempDir(),
	}
	testenv.StubImage(t) // the agent would build the same image; build it outside any timed wait
	testenv.RemoveContainers(t, e.docker, e.instance)
	lo := freeRange(t, ports)
	// aima.yaml is written before init, which keeps it and commits it: the
	// settings are in effect before the first service asks for a port.
	settings := fmt.Sprintf("format: 1\ninstance: %s\napi: %s\nresync: 3s\nport_range: %d-%d\n", e.instance, e.addr, lo, lo+ports-1)
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "aima.yaml"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustAima("init")
	return e
}

// freeRange returns the first port of n consecutive TCP ports that are free
// now, below the ephemeral range (so outgoing connections do not take them).
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		lo := 20000 + rand.IntN(12000-n)
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return lo
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// cname is the container name of a service of this env's instance ("r_2":
// replica 2 of r).
func (e *aimaEnv) cname(service string) string {
	return plan.ContainerName(e.instance, "service", service, 1)
}

// command returns an aima command on the state directory.
func (e *aimaEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, e.bin, args...)
	c.Env = append(os.Environ(), "AIMA_DIR="+e.dir, "AIMA_AUTHOR=aima-test <test@aima.invalid>")
	c.Env = append(c.Env, e.env...)
	return c
}

// aima runs an aima command and returns its output and exit code.
func (e *aimaEnv) aima(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	return e.aimaEnvs(nil, args...)
}

func (e *aimaEnv) aimaEnvs(env []string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.command(ctx, args...)
	c.Env = append(c.Env, env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("aima %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// mustAima runs an aima command that must succeed and returns its stdout.
func (e *aimaEnv) mustAima(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.aima(args...)
	if code != 0 {
		e.t.Fatalf("aima %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// git runs git in the state directory and returns its combined output.
func (e *aimaEnv) git(args ...string) (string, error) {
	c := exec.Command("git", append([]string{"-C", e.dir}, args...)...)
	c.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+e.home)
	out, err := c.CombinedOutput()
	return string(out), err
}

func (e *aimaEnv) mustGit(args ...string) string {
	e.t.Helper()
	out, err := e.git(args...)
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// agentProc is a running `aima start`.
type agentProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// startAgent starts `aima start` on the environment's API address and
// waits until it answers /health. The process is killed at the end of the
// test if it still runs.
func (e *aimaEnv) startAgent(extraEnv ...string) *agentProc {
	e.t.Helper()
	return e.startAgentArgs(nil, extraEnv...)
}

// startAgentArgs is startAgent with more arguments for `aima start`.
func (e *aimaEnv) startAgentArgs(args []string, extraEnv ...string) *agentProc {
	e.t.Helper()
	c := e.command(context.Background(), append([]string{"start", "--addr", e.addr}, args...)...)
	c.Env = append(c.Env, extraEnv...)
	p := &agentProc{cmd: c, out: &lockedBuffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = p.out, p.out
	if err := c.Start(); err != nil {
		e.t.Fatalf("aima start: %v", err)
	}
	go func() { p.err = c.Wait(); close(p.done) }()
	e.t.Cleanup(p.kill)
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get("http://" + e.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			e.t.Fatalf("aima start exited before serving: %v\n%s", p.err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("aima start: no answer on %s after 30s\n%s", e.addr, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (if the process still runs) and waits for it to end.
func (p *agentProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *agentProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// lockedBuffer is a bytes.Buffer safe for a process's two output streams.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var apiClient = &http.Client{Timeout: 30 * time.Second}

// authorize makes req what the owner's client sends: the agent's token
// (from .local/token, as the CLI reads it) and, on a POST, a JSON body.
func (e *aimaEnv) authorize(req *http.Request) {
	if req.Method == http.MethodPost && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok, err := os.ReadFile(filepath.Join(e.dir, ".local", "token")); err == nil && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
}

// call sends a request to the agent's API and returns the status code and
// the body. A transport error is returned, not fatal: crash tests expect it.
func (e *aimaEnv) call(method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+e.addr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	e.authorize(req)
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustCall is call for requests that must answer want.
func (e *aimaEnv) mustCall(method, path, body string, want int) map[string]any {
	e.t.Helper()
	code, b, err := e.call(method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	return m
}

// items decodes a {"items": [...]} list.
func items(t *testing.T, what string, b []byte) []map[string]any {
	t.Helper()
	var l struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	if l.Total != len(l.Items) {
		t.Fatalf("%s: total %d but %d items", what, l.Total, len(l.Items))
	}
	return l.Items
}

// cliList is `aima <kind> list -o json`.
func (e *aimaEnv) cliList(kind string) []map[string]any {
	e.t.Helper()
	return items(e.t, "aima "+kind+" list", []byte(e.mustAima(kind, "list", "-o", "json")))
}

// apiList is GET /api/<kind>/list.
func (e *aimaEnv) apiList(kind string) []map[string]any {
	e.t.Helper()
	code, b, err := e.call("GET", "/api/"+kind+"/list", "")
	if err != nil || code != http.StatusOK {
		e.t.Fatalf("GET /api/%s/list: %d %v %s", kind, code, err, b)
	}
	return items(e.t, "GET /api/"+kind+"/list", b)
}

// byName indexes list items by name.
func byName(list []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, it := range list {
		n, _ := it["name"].(string)
		out[n] = it
	}
	return out
}

// observedFields are the fields derived from Docker on every read; they may
// differ between two reads of unchanged state.
var observedFields = []string{"status", "reason", "since", "health", "restarts", "drift", "container", "endpoint"}

// desired strips the observed fields from list items.
func desired(list []map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, it := range list {
		c := map[string]any{}
		for k, v := range it {
			c[k] = v
		}
		for _, f := range observedFields {
			delete(c, f)
		}
		out = append(out, c)
	}
	return out
}

// containers lists the instance's containers (any state).
func (e *aimaEnv) containers() []container.Summary {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	list, err := e.docker.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", testenv.LabelInstance+"="+e.instance)),
	})
	if err != nil {
		e.t.Fatalf("docker list: %v", err)
	}
	return list
}

// containerNames lists "name state" of the instance's containers, sorted.
func describe(list []container.Summary) string {
	var s []string
	for _, c := range list {
		s = append(s, fmt.Sprintf("%s(%s %s)", strings.TrimPrefix(c.Names[0], "/"), c.State, c.ID[:12]))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// waitUntil polls cond every 100ms until it reports true or timeout passes,
// then fails the test with the last detail cond gave.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, timeout, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serviceStatuses reads every service's observed status from the API.
func (e *aimaEnv) serviceStatuses() (map[string]map[string]any, error) {
	code, b, err := e.call("GET", "/api/service/list", "")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", code, b)
	}
	var l struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	return byName(l.Items), nil
}

// waitStatus waits until the API reports the service in the wanted status.
func (e *aimaEnv) waitStatus(name, want string, timeout time.Duration) map[string]any {
	e.t.Helper()
	var got map[string]any
	waitUntil(e.t, timeout, "service "+name+" "+want, func() (bool, string) {
		sts, err := e.serviceStatuses()
		if err != nil {
			return false, err.Error()
		}
		got = sts[name]
		return got != nil && got["status"] == want, fmt.Sprintf("%v", got)
	})
	return got
}

// checkGit checks what every test ends with: git fsck prints nothing and
// the work tree is clean (polling, since the agent may be committing).
// After a kill -9 mid-commit, objects written for a commit that never
// happened are left unreferenced: harmless, and allowed with dangling.
func (e *aimaEnv) checkGit(dangling bool) {
	e.t.Helper()
	waitUntil(e.t, 15*time.Second, "git status --porcelain is empty", func() (bool, string) {
		out, err := e.git("status", "--porcelain", "--untracked-files=all")
		return err == nil && out == "", out
	})
	args := []string{"fsck", "--no-progress"}
	if dangling {
		args = append(args, "--no-dangling")
	}
	if out, err := e.git(args...); err != nil || out != "" {
		e.t.Errorf("git fsck: %v\n%s", err, out)
	}
}

func sigterm(p *agentProc) error { return p.cmd.Process.Signal(syscall.SIGTERM) }
