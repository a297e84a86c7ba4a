package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestGracefulShutdown sends SIGTERM while requests are in flight: the
// listener closes at once (new connections are refused), the in-flight
// requests complete with 2xx, the process exits 0 and the containers keep
// running.
func TestGracefulShutdown(t *testing.T) {
	e := newAimaEnv(t, 10)
	e.mustAima("model", "create", "--name", "g-model", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "g-svc", "--model", "g-model", "--engine", "stub", "--state", "stopped")
	agent := e.startAgent()

	type result struct {
		what string
		code int
		body []byte
		err  error
		at   time.Time
	}
	results := make(chan result, 8)
	do := func(what string, req *http.Request) {
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		r := result{what: what, err: err}
		if err == nil {
			r.code = resp.StatusCode
			r.body, r.err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		r.at = time.Now()
		results <- r
	}

	// Creates whose bodies arrive only after SIGTERM: in flight for sure.
	const slow = 3
	var rest []*io.PipeWriter
	for i := range slow {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", "http://"+e.addr+"/api/model/create", pr)
		e.authorize(req)
		go do(fmt.Sprintf("model create %d", i), req)
		if _, err := fmt.Fprintf(pw, `{"name": "g-slow-%d", `, i); err != nil {
			t.Fatal(err)
		}
		rest = append(rest, pw)
	}
	// A service start that waits for the container to run.
	req, _ := http.NewRequest("POST", "http://"+e.addr+"/api/service/start", strings.NewReader(`{"id": "g-svc", "wait": true, "timeout": "60s"}`))
	e.authorize(req)
	go do("service start --wait", req)
	waitUntil(t, 10*time.Second, "service start committed", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(e.dir, "services", "g-svc.yaml"))
		return !strings.Contains(string(b), "stopped"), string(b)
	})

	sent := time.Now()
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the in-flight requests are held.
	waitUntil(t, 5*time.Second, "connections refused after SIGTERM", func() (bool, string) {
		c, err := net.DialTimeout("tcp", e.addr, time.Second)
		if err == nil {
			c.Close()
			return false, "connected"
		}
		return errors.Is(err, syscall.ECONNREFUSED), err.Error()
	})
	if agent.exited() {
		t.Fatalf("the agent exited with requests in flight: %v\n%s", agent.err, agent.out)
	}
	if _, _, err := e.call("GET", "/api/model/list", ""); err == nil {
		t.Errorf("a request after SIGTERM was served; want the connection refused")
	}
	for i, pw := range rest {
		fmt.Fprintf(pw, `"source": "ollama", "repo": "slow-%d"}`, i)
		pw.Close()
	}
	for range slow + 1 {
		r := <-results
		if r.err != nil || r.code/100 != 2 {
			t.Errorf("%s (in flight at SIGTERM): %d %v %s", r.what, r.code, r.err, r.body)
			continue
		}
		if r.what == "service start --wait" {
			var m map[string]any
			_ = json.Unmarshal(r.body, &m)
			if m["status"] != "running" {
				t.Errorf("service start --wait answered %s", r.body)
			}
			t.Logf("service start --wait answered %s after SIGTERM", r.at.Sub(sent).Round(time.Millisecond))
		}
	}
	select {
	case <-agent.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not exit within 30s of SIGTERM\n%s", agent.out)
	}
	if agent.err != nil {
		t.Errorf("aima start after SIGTERM: %v, want exit 0\n%s", agent.err, agent.out)
	}
	c := e.serviceContainer("g-svc")
	if c == nil || c.State != container.StateRunning {
		t.Errorf("the service's container did not keep running after the agent exited: %s", describe(e.containers()))
	}
	for i := range slow {
		e.mustAima("model", "get", fmt.Sprintf("g-slow-%d", i))
	}
	e.checkGit(false)
}
