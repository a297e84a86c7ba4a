package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGatewaySpreadsAndSurvivesAStop: two services of one model behind the
// agent's /v1/chat/completions both answer (each stub logs the requests it
// served), and stopping one under a steady load loses no request: the
// gateway sends what the stopped one refuses to the other, and the route
// table drops it.
func TestGatewaySpreadsAndSurvivesAStop(t *testing.T) {
	e := newAimaEnv(t, 3)
	e.startAgent()
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "a", "--model-id", "tiny", "--engine-type", "stub")
	e.mustAima("service", "create", "--name", "b", "--model-id", "tiny", "--engine-type", "stub")
	e.waitStatus("a", "running", 90*time.Second)
	e.waitStatus("b", "running", 90*time.Second)

	client := &http.Client{Timeout: 30 * time.Second}
	chat := func(client *http.Client) (int, string) { return e.chatTiny(client) }
	// The route table learns of a healthy service within its refresh
	// interval: chat until both have answered.
	served := func(svc string) int {
		return strings.Count(e.mustAima("service", "logs", svc), "POST /v1/chat/completions 200")
	}
	waitUntil(t, 30*time.Second, "both services answer chats through the agent", func() (bool, string) {
		for i := range 10 {
			if code, body := chat(client); code != 200 || !strings.Contains(body, "stub answer from tiny") {
				t.Fatalf("chat %d: %d %s", i, code, body)
			}
		}
		a, b := served("a"), served("b")
		return a > 0 && b > 0, fmt.Sprintf("a answered %d, b %d", a, b)
	})
	// Once both are known, the load is spread: 40 more chats reach both.
	a0, b0 := served("a"), served("b")
	for range 40 {
		chat(client)
	}
	if da, db := served("a")-a0, served("b")-b0; da < 10 || db < 10 {
		t.Errorf("40 chats went %d to a and %d to b; want both used", da, db)
	}

	// A steady load (4 clients) while b is stopped: every request answered.
	load := steadyLoad(func() (int, string) { return chat(client) })
	e.mustAima("service", "stop", "b")
	e.waitStatus("b", "stopped", 30*time.Second)
	load.finish(t, "during the stop")
}

// TestGatewayReplicas: a service of two replicas answers from both through
// the gateway (the stub's system_fingerprint names the container that
// answered), and scaling it down to one under a steady load loses no
// request.
func TestGatewayReplicas(t *testing.T) {
	e := newAimaEnv(t, 3)
	e.startAgent()
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "r", "--model-id", "tiny", "--engine-type", "stub")
	e.mustAima("service", "update", "r", "--replicas", "2")
	st := e.waitStatus("r", "running", 90*time.Second)
	if st["ready"] != "2/2" {
		t.Errorf("status ready = %v, want 2/2 (%v)", st["ready"], st)
	}
	fingerprint := map[string]string{} // system_fingerprint → container name
	for _, name := range []string{e.cname("r"), e.cname("r_2")} {
		cs := e.containersNamed(name)
		if len(cs) != 1 || cs[0].State != "running" {
			t.Fatalf("container %s: %d of that name (%v); want one running", name, len(cs), cs)
		}
		fingerprint["fp_"+cs[0].ID[:12]] = name
	}

	client := &http.Client{Timeout: 30 * time.Second}
	chat := func() (int, string) { return e.chatTiny(client) }
	answered := map[string]int{}
	waitUntil(t, 30*time.Second, "both replicas answer through the gateway", func() (bool, string) {
		for range 10 {
			code, body := chat()
			var a struct {
				SystemFingerprint string `json:"system_fingerprint"`
			}
			if code != 200 || json.Unmarshal([]byte(body), &a) != nil {
				t.Fatalf("chat: %d %s", code, body)
			}
			name, ok := fingerprint[a.SystemFingerprint]
			if !ok {
				t.Fatalf("answered by %q, which is neither replica (%v)", a.SystemFingerprint, fingerprint)
			}
			answered[name]++
		}
		return len(answered) == 2, fmt.Sprint(answered)
	})

	// Each replica's log: the one that answered a request shows it.
	for _, name := range []string{e.cname("r"), e.cname("r_2")} {
		n := map[string]string{e.cname("r"): "1", e.cname("r_2"): "2"}[name]
		if logs := e.mustAima("service", "logs", "r", "--replica", n); !strings.Contains(logs, "POST /v1/chat/completions 200") {
			t.Errorf("replica %s's log shows no chat (%d answered by %s):\n%s", n, answered[name], name, logs)
		}
	}
	if _, stderr, code := e.aima("service", "logs", "r", "--replica", "3"); code == 0 || !strings.Contains(stderr, "no replica 3") {
		t.Errorf("logs of a replica that does not exist: exit %d, %s", code, stderr)
	}

	// The CLI streams an answer from the model's replicas as it comes.
	if out := e.mustAima("inference", "chat", "-m", "tiny", "-M", "hi", "--stream", "--max-tokens", "3"); out != "stub answer from\n" {
		t.Errorf("aima inference chat --stream --max-tokens 3 printed %q", out)
	}

	load := steadyLoad(chat)
	e.mustAima("service", "update", "r", "--replicas", "1")
	waitUntil(t, 30*time.Second, "replica 2 removed", func() (bool, string) {
		return len(e.containersNamed(e.cname("r_2"))) == 0, describe(e.containersNamed(e.cname("r_2")))
	})
	load.finish(t, "while scaling down")
	if st := e.waitStatus("r", "running", 30*time.Second); st["replica_statuses"] != nil {
		t.Errorf("one replica left, status still lists replica statuses: %v", st["replica_statuses"])
	}
}

// chatTiny sends "hi" to model tiny through the agent's gateway and
// returns the status and body (status 0 and the error when it failed).
func (e *aimaEnv) chatTiny(client *http.Client) (int, string) {
	req, _ := http.NewRequest("POST", "http://"+e.addr+"/v1/chat/completions", strings.NewReader(`{"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}`))
	e.authorize(req)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// load is requests sent by 4 clients in a loop until finish.
type load struct {
	ok, failed   atomic.Int64
	firstFailure atomic.Value
	stop         chan struct{}
	wg           sync.WaitGroup
}

// steadyLoad starts 4 clients calling do in a loop; a call is answered
// when do returns 200.
func steadyLoad(do func() (int, string)) *load {
	l := &load{stop: make(chan struct{})}
	for range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if code, body := do(); code == 200 {
					l.ok.Add(1)
				} else {
					l.failed.Add(1)
					l.firstFailure.CompareAndSwap(nil, body)
				}
			}
		}()
	}
	return l
}

// finish keeps the load on past the route table's next refresh (200 more
// answers), stops it and fails t if any request failed.
func (l *load) finish(t *testing.T, during string) {
	t.Helper()
	after := l.ok.Load()
	waitUntil(t, 30*time.Second, "the load goes on "+during, func() (bool, string) {
		return l.ok.Load() > after+200, fmt.Sprintf("%d answered since", l.ok.Load()-after)
	})
	close(l.stop)
	l.wg.Wait()
	if l.failed.Load() > 0 || l.ok.Load() < 20 {
		t.Errorf("%s: %d answered, %d failed (first: %v)", during, l.ok.Load(), l.failed.Load(), l.firstFailure.Load())
	}
}
