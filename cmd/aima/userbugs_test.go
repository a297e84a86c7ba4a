package main

// End-to-end tests of the bugs found trying aima as a user would (issue 12):
// each drives the real binary the way the user did.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"

	"github.com/aima-dev/aima/internal/testenv"
)

// TestHandWrittenServiceGetsPort: a service file written by hand without a
// port is given one — the lowest free one of port_range, as service create
// would — written into the file and committed with the edit, by aima sync
// without an agent (the agent does the same when its watcher records the
// file); the service then runs on it, instead of staying "failed: no port".
func TestHandWrittenServiceGetsPort(t *testing.T) {
	e := newAimaEnv(t, 3)
	e.mustAima("model", "create", "--name", "hm", "--source", "ollama", "--repo", "tinyllama")
	file := filepath.Join(e.dir, "services", "hand.yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	written := "# written by hand\nname: hand\nmodel: hm\nengine: stub\n"
	if err := os.WriteFile(file, []byte(written), 0o644); err != nil {
		t.Fatal(err)
	}
	out := e.mustAima("sync", "--wait", "--timeout", "60")
	m := regexp.MustCompile(`commit services/hand\.yaml: edited by hand; port (\d+) allocated`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("aima sync did not allocate a port:\n%s", out)
	}
	port, _ := strconv.Atoi(m[1])
	data, _ := os.ReadFile(file)
	if want := written + fmt.Sprintf("port: %d\n", port); string(data) != want {
		t.Errorf("services/hand.yaml:\n%s\nwant:\n%s", data, want)
	}
	if msg := e.mustGit("log", "-1", "--format=%B"); !strings.HasPrefix(msg, "edit: services/hand.yaml\n") || !strings.Contains(msg, fmt.Sprintf("port %d allocated for services/hand.yaml", port)) {
		t.Errorf("commit:\n%s", msg)
	}
	c := e.serviceContainer("hand")
	if c == nil || c.State != "running" {
		t.Fatalf("no running container for hand: %s", describe(e.containers()))
	}
	published := false
	for _, p := range c.Ports {
		published = published || int(p.PublicPort) == port
	}
	if !published {
		t.Errorf("container of hand publishes %+v, not port %d", c.Ports, port)
	}
	// Nothing is allocated twice: a second sync has nothing to commit.
	if out := e.mustAima("sync"); strings.Contains(out, "commit ") {
		t.Errorf("second sync committed again:\n%s", out)
	}
	e.checkGit(false)
}

// TestServiceStopWithoutAgentTouchesOnlyIt: `aima service stop X` with no
// agent running converges X only. Other services whose files changed
// since the last sync keep their containers (the agent, or aima sync,
// converges them), and so does a running one whose file is unchanged.
func TestServiceStopWithoutAgentTouchesOnlyIt(t *testing.T) {
	e := newAimaEnv(t, 5)
	e.mustAima("model", "create", "--name", "sm", "--source", "ollama", "--repo", "tinyllama")
	for _, n := range []string{"x", "y", "z"} {
		e.mustAima("service", "create", "--name", n, "--model", "sm", "--engine", "stub")
	}
	e.mustAima("sync", "--wait", "--timeout", "60")
	ids := func() map[string]string {
		m := map[string]string{}
		for _, c := range e.containers() {
			m[c.Labels["aima.name"]] = c.ID
		}
		return m
	}
	before := ids()
	e.mustAima("service", "update", "y", "--env", "MODE=fast") // y: a recreate is due
	e.mustAima("service", "stop", "x")
	after := ids()
	if _, ok := after["x"]; ok {
		t.Errorf("x still has a container after stop: %s", describe(e.containers()))
	}
	for _, n := range []string{"y", "z"} {
		if after[n] != before[n] {
			t.Errorf("service stop x changed %s's container (%.12s -> %.12s)", n, before[n], after[n])
		}
	}
	// aima sync does the rest.
	out := e.mustAima("sync")
	if !strings.Contains(out, "recreate service/y") {
		t.Errorf("aima sync after the stop:\n%s", out)
	}
}

// TestUnmanagedContainersReported: containers that carry aima labels but
// are not this instance's — one run by hand with only aima.engine=vllm,
// one with our instance label but without aima.managed=true — are
// reported as unmanaged by aima status (table and JSON) and GET
// /api/status, and never touched by a sync.
func TestUnmanagedContainersReported(t *testing.T) {
	e := newAimaEnv(t, 2)
	image := testenv.StubImage(t)
	ctx := context.Background()
	mk := func(name string, labels map[string]string) string {
		c, err := e.docker.ContainerCreate(ctx, &dcontainer.Config{Image: image, Labels: labels}, nil, nil, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = e.docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		})
		return c.ID
	}
	byHand := "vllm-by-hand-" + e.instance
	notManaged := "not-managed-" + e.instance
	mk(byHand, map[string]string{"aima.engine": "vllm"})
	mk(notManaged, map[string]string{"aima.instance": e.instance, "aima.kind": "service", "aima.name": "old"})

	check := func(what string, doc map[string]any) {
		t.Helper()
		list, _ := doc["unmanaged"].([]any)
		got := map[string]string{}
		for _, u := range list {
			m, _ := u.(map[string]any)
			got[fmt.Sprint(m["container"])] = fmt.Sprint(m["reason"])
		}
		want := map[string]string{
			byHand:     "with aima labels but no aima.instance",
			notManaged: fmt.Sprintf("of instance %q without aima.managed=true", e.instance),
		}
		for name, reason := range want {
			if got[name] != reason {
				t.Errorf("%s: unmanaged %s: %q, want %q (all: %v)", what, name, got[name], reason, doc["unmanaged"])
			}
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(e.mustAima("status", "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	check("aima status -o json", doc)
	if out := e.mustAima("status"); !strings.Contains(out, "Unmanaged containers") || !strings.Contains(out, byHand) || !strings.Contains(out, notManaged) {
		t.Errorf("aima status does not list the unmanaged containers:\n%s", out)
	}
	e.mustAima("sync", "--timeout", "60")
	e.startAgent()
	check("GET /api/status", e.mustCall("GET", "/api/status", "", http.StatusOK))
	// Never touched: both still exist after a sync and an agent start.
	for _, name := range []string{byHand, notManaged} {
		if len(e.containersNamed(name)) != 1 {
			t.Errorf("container %s is gone", name)
		}
	}
}

// metric reads one counter or gauge (without labels) from GET /metrics.
func (e *aimaEnv) metric(name string) (float64, bool) {
	e.t.Helper()
	code, b, err := e.call("GET", "/metrics", "")
	if err != nil || code != http.StatusOK {
		e.t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestSyncErrorsMetric: aima_sync_errors_total counts the passes of the
// agent's sync loop that failed — with Docker unreachable every pass, with
// a service whose port a foreign process holds the pass whose create
// failed — and stays 0 while passes succeed.
func TestSyncErrorsMetric(t *testing.T) {
	e := newAimaEnv(t, 3)
	e.mustAima("model", "create", "--name", "em", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "fine", "--model", "em", "--engine", "stub")
	p := e.startAgent()
	e.waitStatus("fine", "running", 60*time.Second)
	if n, ok := e.metric("aima_sync_errors_total"); !ok || n != 0 {
		t.Errorf("aima_sync_errors_total = %v (found %v) while every pass succeeds, want 0", n, ok)
	}
	// A foreign process holds the port of a new service: its create fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	e.mustCall("POST", "/api/service/create", fmt.Sprintf(`{"name": "held", "model": "em", "engine": "stub", "port": %d}`, port), http.StatusCreated)
	waitUntil(t, 30*time.Second, "aima_sync_errors_total counts the failed create", func() (bool, string) {
		n, _ := e.metric("aima_sync_errors_total")
		return n >= 1, fmt.Sprint(n)
	})
	p.kill()

	// Docker unreachable: every pass fails.
	e.startAgent("DOCKER_HOST=tcp://127.0.0.1:1")
	waitUntil(t, 30*time.Second, "aima_sync_errors_total counts passes with Docker unreachable", func() (bool, string) {
		n, _ := e.metric("aima_sync_errors_total")
		passes, _ := e.metric("aima_sync_passes_total")
		return n >= 2 && passes >= n, fmt.Sprintf("errors %v of %v passes", n, passes)
	})
}

// TestDeletePipelineWithActiveRun: a pipeline whose run is still going
// cannot be deleted — 409 naming the run through the API, a clear error
// from the CLI — and can once the run is cancelled.
func TestDeletePipelineWithActiveRun(t *testing.T) {
	e := newAimaEnv(t, 1)
	// A download that never answers keeps the run going.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	e.mustAima("model", "create", "--name", "slowdl", "--source", "http", "--url", hang.URL+"/weights.gguf")
	pipeline := filepath.Join(t.TempDir(), "slow.yaml")
	if err := os.WriteFile(pipeline, []byte("name: slow\nsteps:\n  - {id: pull, unit: model.pull, params: {name: slowdl}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustAima("pipeline", "create", "-f", pipeline)
	e.startAgent()
	run := e.mustCall("POST", "/api/pipeline/run", `{"name": "slow"}`, http.StatusOK)
	id, _ := run["id"].(string)
	waitUntil(t, 30*time.Second, "the run is running", func() (bool, string) {
		_, b, _ := e.call("GET", "/api/pipeline/runs?name=slow", "")
		return strings.Contains(string(b), `"status":"running"`), string(b)
	})

	code, b, err := e.call("POST", "/api/pipeline/delete", `{"id": "slow"}`)
	if err != nil || code != http.StatusConflict || !strings.Contains(string(b), `"code":"conflict"`) || !strings.Contains(string(b), id) {
		t.Errorf("POST /api/pipeline/delete during run %s: %d %v %s; want 409 conflict naming the run", id, code, err, b)
	}
	out, errOut, exit := e.aima("pipeline", "delete", "slow")
	if exit == 0 || !strings.Contains(errOut, "run "+id+" is running") || !strings.Contains(errOut, "aima pipeline cancel "+id) {
		t.Errorf("aima pipeline delete during the run: exit %d\nstdout: %s\nstderr: %s", exit, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "pipelines", "slow.yaml")); err != nil {
		t.Errorf("the pipeline file is gone: %v", err)
	}

	e.mustAima("pipeline", "cancel", id)
	waitUntil(t, 30*time.Second, "the run ends", func() (bool, string) {
		_, b, _ := e.call("GET", "/api/pipeline/runs?name=slow", "")
		return !strings.Contains(string(b), `"status":"running"`), string(b)
	})
	e.mustAima("pipeline", "delete", "slow")
}

// TestWaitTimeoutNamesObject: when --wait --timeout (or the API's wait and
// timeout) expires, the error names the object, the status it is in and
// why — here a health check that keeps failing — not "context deadline
// exceeded"; the API answers with the timeout code.
func TestWaitTimeoutNamesObject(t *testing.T) {
	e := newAimaEnv(t, 2)
	engine := filepath.Join(t.TempDir(), "never-ready.yaml")
	if err := os.WriteFile(engine, []byte("name: never-ready\ntype: stub\nimage: aima-stub\nargs: [--addr, ':{{.Port}}', --model, '{{.ModelName}}']\nport: 8000\nhealth: {path: /never-ready, timeout: 10m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustAima("engine", "create", "-f", engine)
	e.mustAima("model", "create", "--name", "wm", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "slow", "--model", "wm", "--engine", "never-ready", "--state", "stopped")

	out, errOut, code := e.aima("service", "start", "slow", "--wait", "--timeout", "3")
	for _, want := range []string{"service/slow is starting after 3", "(wanted running)", "health check failing", "/never-ready"} {
		if code != 124 || !strings.Contains(errOut, want) {
			t.Errorf("aima service start --wait --timeout 3: exit %d (want 124, a timeout); stderr does not say %q\nstdout: %s\nstderr: %s", code, want, out, errOut)
		}
	}
	if strings.Contains(errOut, "context deadline exceeded") {
		t.Errorf("stderr: %s", errOut)
	}

	e.mustAima("service", "stop", "slow")
	e.startAgent()
	st, b, err := e.call("POST", "/api/service/start", `{"id": "slow", "wait": true, "timeout": 2}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"code":"timeout"`, "service/slow is starting after 2", "health check failing"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("POST /api/service/start wait, timeout 2: %d %s; want it to say %s", st, b, want)
		}
	}
	if strings.Contains(string(b), "context deadline exceeded") || strings.Count(string(b), "service/slow") != 1 {
		t.Errorf("POST /api/service/start: %s", b)
	}
}
