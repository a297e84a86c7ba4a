package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// dockerProxy forwards TCP connections to the Docker daemon's socket, and
// can be stopped (listener and every connection closed) and started again
// on the same address: Docker going away and coming back, without touching
// the real daemon.
type dockerProxy struct {
	t      *testing.T
	addr   string
	target string // unix socket path
	ln     net.Listener
	conns  chan net.Conn
	cancel context.CancelFunc
}

func (p *dockerProxy) start() {
	p.t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if p.ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("docker proxy: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	ln := p.ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				d, err := net.Dial("unix", p.target)
				if err != nil {
					c.Close()
					return
				}
				go func() { <-ctx.Done(); c.Close(); d.Close() }()
				go func() { _, _ = io.Copy(d, c); d.Close() }()
				_, _ = io.Copy(c, d)
				c.Close()
			}()
		}
	}()
}

func (p *dockerProxy) stop() {
	p.ln.Close()
	p.cancel()
}

// TestDockerUnavailable runs the agent against Docker through a proxy that
// the test stops and starts: while Docker is away the API keeps serving,
// services show status unknown within 5 s, aima diff and aima sync fail fast
// with a message about Docker; when Docker returns the agent converges.
func TestDockerUnavailable(t *testing.T) {
	e := newAimaEnv(t, 10)
	host := e.docker.DaemonHost()
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Skipf("the Docker daemon is at %s, not a unix socket; the proxy needs one", host)
	}
	p := &dockerProxy{t: t, addr: fmt.Sprintf("127.0.0.1:%d", freeRange(t, 1)), target: sock}
	p.start()
	t.Cleanup(func() { p.stop() })
	e.env = []string{"DOCKER_HOST=tcp://" + p.addr}

	e.mustAima("model", "create", "--name", "u-model", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "u-a", "--model", "u-model", "--engine", "stub")
	e.startAgent()
	e.waitStatus("u-a", "running", 60*time.Second)

	p.stop()
	gone := time.Now()
	st := e.waitStatus("u-a", "unknown", 5*time.Second)
	t.Logf("status unknown %s after Docker went away: %v", time.Since(gone).Round(time.Millisecond), st["reason"])
	if r, _ := st["reason"].(string); !strings.Contains(strings.ToLower(r), "docker") {
		t.Errorf("status unknown with reason %q; want it to name Docker", r)
	}
	// The API keeps serving, writes included.
	e.mustCall("GET", "/health", "", http.StatusOK)
	e.mustCall("POST", "/api/service/create", `{"name": "u-b", "model": "u-model", "engine": "stub"}`, http.StatusCreated)
	if st := e.waitStatus("u-b", "unknown", 5*time.Second); st == nil {
		t.Fatal("u-b has no status")
	}
	// The CLI fails fast and says why.
	for _, args := range [][]string{{"diff"}, {"sync"}} {
		start := time.Now()
		out, errOut, code := e.aimaEnvs([]string{"DOCKER_HOST=tcp://127.0.0.1:1"}, args...)
		took := time.Since(start)
		if code == 0 || took > 5*time.Second || !strings.Contains(strings.ToLower(out+errOut), "docker") {
			t.Errorf("aima %s with Docker unreachable: exit %d after %s; want non-zero within 5s naming Docker\nstdout: %s\nstderr: %s", args[0], code, took, out, errOut)
		}
	}
	if c := e.serviceContainer("u-a"); c == nil || c.State != container.StateRunning {
		t.Errorf("u-a's container while Docker was unreachable for aima: %s", describe(e.containers()))
	}

	p.start()
	e.waitStatus("u-a", "running", 30*time.Second)
	e.waitStatus("u-b", "running", 30*time.Second)
	e.waitExactly([]string{"u-a", "u-b"}, "after Docker returned")
	e.checkGit(false)
}
