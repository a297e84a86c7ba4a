package mcp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/mcp"
)

// TestMCPIdleSessionEnds: an HTTP session that makes no request for the
// session timeout is closed (404 for its id: the client starts another),
// so sessions opened and left do not pile up in the agent.
func TestMCPIdleSessionEnds(t *testing.T) {
	srv := mcp.New(mcp.Options{Env: newEnv(t), SessionTimeout: 300 * time.Millisecond})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	post := func(session, body string) (int, string) {
		req, _ := http.NewRequest("POST", hs.URL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer owner")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	code, sid := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	if code != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d, session %q", code, sid)
	}
	post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if code, _ := post(sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); code != http.StatusOK {
		t.Fatalf("a call in the fresh session: %d", code)
	}
	// Idle for longer than the timeout (every request restarts it, so
	// each try waits twice the timeout first); a busy machine may close it
	// late, never early.
	for try := 1; ; try++ {
		time.Sleep(600 * time.Millisecond) // idleness is what is tested, not a wait for something
		code, _ := post(sid, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
		if code == http.StatusNotFound {
			return
		}
		if try == 10 {
			t.Fatalf("the session still answers (%d) after idling 600ms ten times; its timeout is 300ms", code)
		}
	}
}
