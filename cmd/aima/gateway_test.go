package main

import (
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

	chat := func(client *http.Client) (int, string) {
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
	client := &http.Client{Timeout: 30 * time.Second}
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
	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, body := chat(client); code == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, body)
				}
			}
		}()
	}
	e.mustAima("service", "stop", "b")
	e.waitStatus("b", "stopped", 30*time.Second)
	// Keep the load on past the table's next refresh.
	after := ok.Load()
	waitUntil(t, 30*time.Second, "the load goes on after the stop", func() (bool, string) {
		return ok.Load() > after+200, fmt.Sprintf("%d answered since", ok.Load()-after)
	})
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || ok.Load() < 20 {
		t.Errorf("during the stop: %d answered, %d failed (first: %v)", ok.Load(), failed.Load(), firstFailure.Load())
	}
}
