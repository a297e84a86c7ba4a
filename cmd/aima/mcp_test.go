package main

// Issue 14: MCP, on the real binary: `aima mcp` over stdio driven by the
// SDK's client as Claude Code would launch it, and the agent's /mcp over
// Streamable HTTP with a named token.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/aima-dev/aima/agent/unit"
)

// mcpNotes collects what a server tells a client unasked.
type mcpNotes chan string

func (n mcpNotes) add(s string) {
	select {
	case n <- s:
	default:
	}
}

// wait waits for a note starting with prefix.
func (n mcpNotes) wait(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case s := <-n:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-deadline:
			t.Fatalf("no %q notification within %s", prefix, timeout)
		}
	}
}

func mcpClient(name string, notes mcpNotes) *sdk.Client {
	return sdk.NewClient(&sdk.Implementation{Name: name, Version: "9.9"}, &sdk.ClientOptions{
		ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) { notes.add("resources") },
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			notes.add("progress: " + r.Params.Message)
		},
	})
}

func mcpCall(t *testing.T, cs *sdk.ClientSession, tool string, args map[string]any) (string, map[string]any) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("%s: %s", tool, text.String())
	}
	var out map[string]any
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: structured content %s: %v", tool, b, err)
	}
	return text.String(), out
}

// TestMCPStdio is `claude mcp add aima -- aima mcp`: the client launches
// the binary, lists one tool per operation, creates a model (a commit by
// "mcp" naming the client, which `aima log` shows), reads it as a resource,
// hears of a file created by the CLI, gets a skill as a prompt, starts a
// stub service (with progress) and chats with it, and the server exits
// when the client closes its input.
func TestMCPStdio(t *testing.T) {
	e := newAimaEnv(t, 2)
	cmd := e.command(context.Background(), "mcp")
	cmd.Env = slices.DeleteFunc(cmd.Env, func(s string) bool { return strings.HasPrefix(s, "AIMA_AUTHOR=") })
	notes := make(mcpNotes, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := mcpClient("claude-code", notes).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tools.Tools), len(unit.Default.List()); got != want {
		t.Errorf("tools/list: %d tools for %d operations", got, want)
	}
	_, out := mcpCall(t, cs, "model_create", map[string]any{"name": "tiny", "source": "ollama", "repo": "tinyllama"})
	if out["name"] != "tiny" {
		t.Fatalf("model_create answered %v", out)
	}
	if got := strings.TrimSpace(e.mustGit("log", "-1", "--format=%an|%s|%(trailers:key=MCP-Client,valueonly)")); got != "mcp|model create: tiny|claude-code 9.9" {
		t.Errorf("commit = %q, want mcp|model create: tiny|claude-code 9.9", got)
	}
	if log := e.mustAima("log", "-n", "1"); !strings.Contains(log, "mcp via claude-code 9.9") || !strings.Contains(log, "model create: tiny") {
		t.Errorf("aima log does not name the client:\n%s", log)
	}
	rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "aima://models/tiny"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, "repo: tinyllama") {
		t.Fatalf("resources/read aima://models/tiny: %v %v", rr, err)
	}
	// A file the CLI creates is announced and listed.
	e.mustAima("model", "create", "--name", "other", "--source", "ollama", "--repo", "x")
	notes.wait(t, "resources", 10*time.Second)
	waitUntil(t, 10*time.Second, "aima://models/other listed", func() (bool, string) {
		res, err := cs.ListResources(ctx, nil)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range res.Resources {
			if r.URI == "aima://models/other" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d resources", len(res.Resources))
	})
	pr, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "setup-llm-service"})
	if err != nil || len(pr.Messages) == 0 || pr.Messages[0].Content.(*sdk.TextContent).Text == "" {
		t.Errorf("prompts/get setup-llm-service: %v %v", pr, err)
	}
	// An unknown tool is a protocol error; a bad field the tool's error.
	var we *jsonrpc.Error
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "model_frobnicate"}); !errors.As(err, &we) || we.Code != jsonrpc.CodeInvalidParams {
		t.Errorf("unknown tool: %v", err)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "service_create", Arguments: map[string]any{"model": "tiny", "engine": "stub", "port": "eighty"}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "port") {
		t.Errorf("service_create with a bad port: %v %v", res, err)
	}
	// Without an agent, the server starts a stub service in its own process
	// (the CLI's way), reporting progress, and the client chats with it.
	mcpCall(t, cs, "service_create", map[string]any{"name": "chat", "model": "tiny", "engine": "stub", "state": "stopped"})
	p := &sdk.CallToolParams{Name: "service_start", Arguments: map[string]any{"id": "chat", "wait": true, "timeout": 90}}
	p.SetProgressToken(7)
	if res, err := cs.CallTool(ctx, p); err != nil || res.IsError || res.StructuredContent.(map[string]any)["status"] != "running" {
		t.Fatalf("service_start over stdio: %v %v", res, err)
	}
	notes.wait(t, "progress: service.start", time.Second)
	if text, _ := mcpCall(t, cs, "inference_chat", map[string]any{"model": "tiny", "message": "hi"}); !strings.Contains(text, "stub answer from tiny") {
		t.Errorf("inference_chat over stdio: %s", text)
	}
	// Closing the client's end (stdin) ends the server cleanly.
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Errorf("aima mcp after its input closed: %v", cmd.ProcessState)
	}
}

// TestMCPStdioRawLines: a client that writes its calls and closes stdin
// at once gets every answer before the server exits (0); a line that is
// not JSON gets a parse error, one that is not JSON-RPC an invalid
// request, and the session goes on.
func TestMCPStdioRawLines(t *testing.T) {
	e := newAimaEnv(t, 1)
	cmd := e.command(context.Background(), "mcp")
	cmd.Stdin = strings.NewReader(strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"model_create","arguments":{"name":"piped","source":"ollama","repo":"x"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"model_list",`,
		`{"id":4,"hello":"world"}`,
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"model_get","arguments":[1]}}`,
		`{"jsonrpc":"2.0","id":6,"method":"no/such/method"}`,
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"model_list"}}`,
	}, "\n") + "\n")
	done := make(chan struct{})
	var stdout []byte
	var runErr error
	go func() { stdout, runErr = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("aima mcp did not exit at the end of its input")
	}
	if runErr != nil {
		t.Fatalf("aima mcp: %v\n%s", runErr, stdout)
	}
	answers := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(string(stdout)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		answers[fmt.Sprint(m["id"])] = m
	}
	code := func(id string) any {
		errObj, _ := answers[id]["error"].(map[string]any)
		return errObj["code"]
	}
	for id, want := range map[string]any{"<nil>": float64(jsonrpc.CodeParseError), "4": float64(jsonrpc.CodeInvalidRequest),
		"5": float64(jsonrpc.CodeInvalidParams), "6": float64(jsonrpc.CodeMethodNotFound)} {
		if got := code(id); got != want {
			t.Errorf("answer to %s: error code %v, want %v (%v)", id, got, want, answers[id])
		}
	}
	for _, id := range []string{"1", "2", "7"} {
		if answers[id]["result"] == nil {
			t.Errorf("no result for call %s: %v", id, answers[id])
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "models", "piped.yaml")); err != nil {
		t.Errorf("the piped model_create wrote no file: %v", err)
	}
}

// bearer adds a token to every request of an HTTP client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// TestMCPHTTP: an AI client with a named token creates a model and a stub
// service through the agent's /mcp, starts it (hearing progress while it
// waits) and chats with it, through tools alone; each write is a commit
// by the token's name naming the client. SIGTERM does not wait for the
// client's open stream.
func TestMCPHTTP(t *testing.T) {
	e := newAimaEnv(t, 2)
	tokFile := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokFile, []byte("claude=mcp-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := e.startAgentArgs([]string{"--token-file", tokFile})
	notes := make(mcpNotes, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tr := &sdk.StreamableClientTransport{Endpoint: "http://" + e.addr + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{"mcp-secret-1", http.DefaultTransport}}}
	cs, err := mcpClient("cursor", notes).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != len(unit.Default.List()) {
		t.Fatalf("tools/list over HTTP: %v, %v", tools, err)
	}

	mcpCall(t, cs, "model_create", map[string]any{"name": "tiny", "source": "ollama", "repo": "tinyllama"})
	notes.wait(t, "resources", 10*time.Second) // on the client's standalone stream
	_, svc := mcpCall(t, cs, "service_create", map[string]any{"name": "chat", "model": "tiny", "engine": "stub", "state": "stopped"})
	if svc["port"] == nil {
		t.Errorf("service_create allocated no port: %v", svc)
	}
	rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "aima://services/chat"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, "engine: stub") || !strings.Contains(rr.Contents[0].Text, fmt.Sprintf("port: %v", svc["port"])) {
		t.Errorf("resources/read aima://services/chat: %v %v", rr, err)
	}
	p := &sdk.CallToolParams{Name: "service_start", Arguments: map[string]any{"id": "chat", "wait": true, "timeout": "90s"}}
	p.SetProgressToken("start-1")
	res, err := cs.CallTool(ctx, p)
	if err != nil || res.IsError {
		t.Fatalf("service_start: %v %v", res, err)
	}
	if got := notes.wait(t, "progress: service.start", time.Second); !strings.Contains(got, "service chat is") && !strings.Contains(got, "working") {
		t.Errorf("progress %q", got)
	}
	if st := res.StructuredContent.(map[string]any)["status"]; st != "running" {
		t.Errorf("service_start answered status %v", st)
	}
	text, _ := mcpCall(t, cs, "inference_chat", map[string]any{"model": "tiny", "message": "hi"})
	if !strings.Contains(text, "stub answer from tiny") {
		t.Errorf("inference_chat: %s", text)
	}
	// Three writes: model, service, start; each by claude via cursor.
	log := strings.Split(strings.TrimSpace(e.mustGit("log", "-3", "--format=%an|%(trailers:key=MCP-Client,valueonly,separator=)|%s")), "\n")
	want := []string{"claude|cursor 9.9|service start: chat", "claude|cursor 9.9|service create: chat", "claude|cursor 9.9|model create: tiny"}
	if !slices.Equal(log, want) {
		t.Errorf("the last commits:\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	if len(e.containers()) != 1 {
		t.Errorf("containers: %s", describe(e.containers()))
	}
	// SIGTERM: the agent ends the MCP session and exits at once.
	start := time.Now()
	if err := sigterm(agent); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent did not exit within 20s of SIGTERM with an MCP client connected\n%s", agent.out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %s with an MCP client connected", d)
	}
}

// TestAttackMCPDoor: /mcp is behind the agent's door like every route:
// no token 401, a foreign Origin 403, a foreign Host 421, a POST that is
// not JSON 415.
func TestAttackMCPDoor(t *testing.T) {
	e := newAimaEnv(t, 1)
	e.startAgent()
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"evil","version":"1"}}}`
	accept := "application/json, text/event-stream"
	_, port, _ := strings.Cut(e.addr, ":")
	for _, c := range []struct {
		what string
		r    rawReq
		want int
	}{
		{"no token", rawReq{method: "POST", path: "/mcp", body: init, header: map[string]string{"Content-Type": "application/json", "Accept": accept}}, http.StatusUnauthorized},
		{"wrong token", rawReq{method: "POST", path: "/mcp", body: init, header: map[string]string{"Content-Type": "application/json", "Accept": accept, "Authorization": "Bearer guess"}}, http.StatusUnauthorized},
		{"GET stream without token", rawReq{method: "GET", path: "/mcp", header: map[string]string{"Accept": "text/event-stream"}}, http.StatusUnauthorized},
		{"foreign origin", rawReq{method: "POST", path: "/mcp", body: init, auth: true, header: map[string]string{"Accept": accept, "Origin": "https://evil.example"}}, http.StatusForbidden},
		{"rebound host", rawReq{method: "POST", path: "/mcp", body: init, auth: true, header: map[string]string{"Accept": accept, "Host": "evil.example:" + port}}, http.StatusMisdirectedRequest},
		{"text/plain body", rawReq{method: "POST", path: "/mcp", body: init, auth: true, header: map[string]string{"Accept": accept, "Content-Type": "text/plain"}}, http.StatusUnsupportedMediaType},
	} {
		if code, _, body := e.raw(c.r); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.what, code, body, c.want)
		}
	}
	// The owner's token opens a session.
	code, h, body := e.raw(rawReq{method: "POST", path: "/mcp", body: init, auth: true, header: map[string]string{"Accept": accept}})
	if code != http.StatusOK || h.Get("Mcp-Session-Id") == "" || !strings.Contains(body, `"serverInfo"`) {
		t.Errorf("initialize with the token: %d %v %s", code, h, body)
	}
}

// TestAttackMCPSessionOfAnotherToken: a session's writes commit as the
// token that opened it, so a holder of another token cannot use it.
func TestAttackMCPSessionOfAnotherToken(t *testing.T) {
	e := newAimaEnv(t, 1)
	tokFile := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokFile, []byte("alice=alice-secret-1,mallory=mallory-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startAgentArgs([]string{"--token-file", tokFile})
	post := func(token, session, body string) (int, http.Header, string) {
		hdr := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
		if session != "" {
			hdr["Mcp-Session-Id"] = session
			hdr["Mcp-Protocol-Version"] = "2025-06-18"
		}
		return e.raw(rawReq{method: "POST", path: "/mcp", body: body, header: hdr})
	}
	code, h, body := post("alice-secret-1", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}`)
	sid := h.Get("Mcp-Session-Id")
	if code != http.StatusOK || sid == "" {
		t.Fatalf("alice's initialize: %d %s", code, body)
	}
	post("alice-secret-1", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	create := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"model_create","arguments":{"name":"hijack","source":"ollama","repo":"x"}}}`
	if code, _, body := post("mallory-secret-1", sid, create); code != http.StatusForbidden {
		t.Errorf("mallory in alice's session: %d %s, want 403", code, body)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "models", "hijack.yaml")); err == nil {
		t.Error("a write through another token's session was made")
	}
	if code, _, body := post("alice-secret-1", sid, create); code != http.StatusOK || !strings.Contains(body, "model.create: hijack") {
		t.Errorf("alice in her session: %d %s", code, body)
	}
}

// TestMCPStdioCancel: a client cancels a service_start that waits for a
// service that never gets healthy; the call ends at once, the server
// goes on answering, and it exits as soon as the client closes its input
// (it does not wait for the cancelled call's timeout).
func TestMCPStdioCancel(t *testing.T) {
	e := newAimaEnv(t, 1)
	// A stub engine whose health check never passes: the service stays
	// starting.
	engine := "kind: engine\nname: never\ntype: stub\nimage: aima-stub\nargs: ['--addr', ':{{.Port}}', '--model', '{{.ModelName}}']\nport: 8000\n" +
		"health:\n  path: /never-healthy\n  interval: 1s\n  timeout: 10m\ngpu: none\napi: openai\n"
	file := filepath.Join(t.TempDir(), "never.yaml")
	if err := os.WriteFile(file, []byte(engine), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustAima("apply", "-f", file)
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", "slow", "--model-id", "tiny", "--engine-type", "never", "--state", "stopped")

	cmd := e.command(context.Background(), "mcp")
	notes := make(mcpNotes, 100)
	cs, err := mcpClient("claude-code", notes).Connect(context.Background(), &sdk.CommandTransport{Command: cmd, TerminateDuration: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		p := &sdk.CallToolParams{Name: "service_start", Arguments: map[string]any{"id": "slow", "wait": true, "timeout": "10m"}}
		p.SetProgressToken("slow-1")
		_, err := cs.CallTool(ctx, p)
		errc <- err
	}()
	notes.wait(t, "progress: service.start", 30*time.Second)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled service_start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled call did not end")
	}
	if _, out := mcpCall(t, cs, "service_get", map[string]any{"id": "slow"}); out["state"] != "running" {
		t.Errorf("service_get after the cancel: %v", out)
	}
	start := time.Now()
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second || cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Errorf("aima mcp exited %v after %s (it must not wait for the cancelled call)", cmd.ProcessState, d)
	}
}
