package stub_test

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aima-dev/aima/agent/stub"
)

// newServer serves the stub handler for model on an httptest server.
func newServer(t *testing.T, model string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(stub.Handler(stub.Options{Model: model, Log: io.Discard}))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request with a JSON body (none if body is "") and returns the
// status and body.
func do(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func TestHealth(t *testing.T) {
	srv := newServer(t, "m1")
	status, body := do(t, "GET", srv.URL+"/health", "")
	if status != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("GET /health = %d %s, want 200 {\"status\":\"ok\"}", status, body)
	}
}

func TestHealthStarting(t *testing.T) {
	srv := httptest.NewServer(stub.Handler(stub.Options{Model: "m1", StartDelay: time.Hour, Log: io.Discard}))
	defer srv.Close()
	for _, path := range []string{"/health", "/v1/models"} {
		if status, body := do(t, "GET", srv.URL+path, ""); status != http.StatusServiceUnavailable {
			t.Errorf("GET %s while starting = %d %s, want 503", path, status, body)
		}
	}
}

func TestModels(t *testing.T) {
	srv := newServer(t, "m1")
	status, body := do(t, "GET", srv.URL+"/v1/models", "")
	if status != 200 {
		t.Fatalf("GET /v1/models = %d %s", status, body)
	}
	var got map[string]any
	decodeJSON(t, body, &got)
	want := map[string]any{
		"object": "list",
		"data":   []any{map[string]any{"id": "m1", "object": "model", "owned_by": "aima-stub", "created": 0.0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/v1/models (-want +got):\n%s", diff)
	}
}

type chatResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

const chatBody = `{"model":"m1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"temperature":0.2}`

func TestChat(t *testing.T) {
	srv := newServer(t, "m1")
	status, body := do(t, "POST", srv.URL+"/v1/chat/completions", chatBody)
	if status != 200 {
		t.Fatalf("POST /v1/chat/completions = %d %s", status, body)
	}
	var got chatResponse
	decodeJSON(t, body, &got)
	if !strings.HasPrefix(got.ID, "chatcmpl-") || got.Object != "chat.completion" || got.Created == 0 || got.Model != "m1" {
		t.Errorf("header fields = id %q object %q created %d model %q", got.ID, got.Object, got.Created, got.Model)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("got %d choices, want 1: %s", len(got.Choices), body)
	}
	c := got.Choices[0]
	want := "stub answer from m1: hello there"
	if c.Message.Role != "assistant" || c.Message.Content != want || c.FinishReason != "stop" {
		t.Errorf("choice = %+v, want assistant %q stop", c, want)
	}
	if want != stub.Answer("m1", "hello there") {
		t.Errorf("Answer disagrees with the served content")
	}
	if u := got.Usage; u.PromptTokens != 4 || u.CompletionTokens != 6 || u.TotalTokens != 10 {
		t.Errorf("usage = %+v, want 4 + 6 = 10", u)
	}
}

func TestChatContentParts(t *testing.T) {
	srv := newServer(t, "m1")
	status, body := do(t, "POST", srv.URL+"/v1/chat/completions",
		`{"messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"x"}}]}]}`)
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	var got chatResponse
	decodeJSON(t, body, &got)
	if c := got.Choices[0].Message.Content; c != "stub answer from m1: look" {
		t.Errorf("content = %q", c)
	}
}

func TestChatMaxTokens(t *testing.T) {
	srv := newServer(t, "m1")
	_, body := do(t, "POST", srv.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"a b c"}],"max_tokens":3}`)
	var got chatResponse
	decodeJSON(t, body, &got)
	if c := got.Choices[0]; c.Message.Content != "stub answer from" || c.FinishReason != "length" {
		t.Errorf("choice = %+v, want %q with finish_reason length", c, "stub answer from")
	}
}

// TestChatDeterministic checks that answers depend on the request and the
// served model only.
func TestChatDeterministic(t *testing.T) {
	m1, m2 := newServer(t, "m1"), newServer(t, "m2")
	answer := func(srv *httptest.Server) chatResponse {
		_, body := do(t, "POST", srv.URL+"/v1/chat/completions", chatBody)
		var r chatResponse
		decodeJSON(t, body, &r)
		return r
	}
	a, b := answer(m1), answer(m1)
	if diff := cmp.Diff(a, b, cmpopts.IgnoreFields(chatResponse{}, "Created")); diff != "" {
		t.Errorf("same request, different answers (-first +second):\n%s", diff)
	}
	c := answer(m2)
	if a.Choices[0].Message.Content == c.Choices[0].Message.Content || a.ID == c.ID {
		t.Errorf("models m1 and m2 gave the same answer %q", c.Choices[0].Message.Content)
	}
	if !strings.Contains(c.Choices[0].Message.Content, "m2") {
		t.Errorf("m2's answer %q does not name the model", c.Choices[0].Message.Content)
	}
}

// readSSE returns the data payloads of an event stream, checking its
// framing.
func readSSE(t *testing.T, resp *http.Response) []string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("stream line %q is not a data line", line)
		}
		data = append(data, d)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream does not end in [DONE]: %q", data)
	}
	return data[:len(data)-1]
}

func TestChatStream(t *testing.T) {
	srv := newServer(t, "m1")
	body := `{"messages":[{"role":"user","content":"hello  there"}],"stream":true,"stream_options":{"include_usage":true}}`
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %s", resp.Status)
	}
	type chunk struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Delta struct {
				Role    string  `json:"role"`
				Content *string `json:"content"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	var (
		content strings.Builder
		finish  []string
		ids     = map[string]bool{}
		usage   int
	)
	data := readSSE(t, resp)
	for i, d := range data {
		var c chunk
		decodeJSON(t, []byte(d), &c)
		ids[c.ID] = true
		if c.Object != "chat.completion.chunk" || c.Model != "m1" {
			t.Errorf("chunk %d: object %q model %q", i, c.Object, c.Model)
		}
		if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %s does not open the assistant message", d)
		}
		if c.Usage != nil {
			usage = c.Usage.TotalTokens
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				content.WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finish = append(finish, *ch.FinishReason)
			}
		}
	}
	if want := "stub answer from m1: hello  there"; content.String() != want {
		t.Errorf("streamed content = %q, want %q", content.String(), want)
	}
	if diff := cmp.Diff([]string{"stop"}, finish); diff != "" {
		t.Errorf("finish reasons (-want +got):\n%s", diff)
	}
	if len(ids) != 1 {
		t.Errorf("chunks carry %d different ids, want 1", len(ids))
	}
	if usage != 8 {
		t.Errorf("usage chunk total_tokens = %d, want 8", usage)
	}
}

func TestCompletions(t *testing.T) {
	srv := newServer(t, "m1")
	status, body := do(t, "POST", srv.URL+"/v1/completions", `{"model":"m1","prompt":["one","two three"]}`)
	if status != 200 {
		t.Fatalf("status %d %s", status, body)
	}
	var got struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Index        int    `json:"index"`
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	decodeJSON(t, body, &got)
	if !strings.HasPrefix(got.ID, "cmpl-") || got.Object != "text_completion" || got.Model != "m1" {
		t.Errorf("id %q object %q model %q", got.ID, got.Object, got.Model)
	}
	type choice = struct {
		Index        int    `json:"index"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
	}
	want := []choice{
		{0, "stub answer from m1: one", "stop"},
		{1, "stub answer from m1: two three", "stop"},
	}
	if diff := cmp.Diff(want, got.Choices); diff != "" {
		t.Errorf("choices (-want +got):\n%s", diff)
	}
	if got.Usage.TotalTokens != 3+5+6 {
		t.Errorf("total_tokens = %d, want 14", got.Usage.TotalTokens)
	}
}

func TestCompletionsStream(t *testing.T) {
	srv := newServer(t, "m1")
	resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"hi","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var text strings.Builder
	for _, d := range readSSE(t, resp) {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
		}
		decodeJSON(t, []byte(d), &c)
		if c.Object != "text_completion" {
			t.Errorf("chunk object %q", c.Object)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Text)
		}
	}
	if text.String() != "stub answer from m1: hi" {
		t.Errorf("streamed text = %q", text.String())
	}
}

type embeddingResponse struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
}

func embed(t *testing.T, srv *httptest.Server, body string) embeddingResponse {
	t.Helper()
	status, b := do(t, "POST", srv.URL+"/v1/embeddings", body)
	if status != 200 {
		t.Fatalf("POST /v1/embeddings %s = %d %s", body, status, b)
	}
	var r embeddingResponse
	decodeJSON(t, b, &r)
	return r
}

func TestEmbeddings(t *testing.T) {
	m1, m2 := newServer(t, "m1"), newServer(t, "m2")
	vec := func(r embeddingResponse, i int) []float32 {
		var v []float32
		decodeJSON(t, r.Data[i].Embedding, &v)
		return v
	}

	one := embed(t, m1, `{"model":"m1","input":"alpha"}`)
	if one.Object != "list" || one.Model != "m1" || len(one.Data) != 1 || one.Data[0].Object != "embedding" {
		t.Fatalf("response = %+v", one)
	}
	a := vec(one, 0)
	if len(a) != stub.EmbeddingDim {
		t.Fatalf("dimension %d, want %d", len(a), stub.EmbeddingDim)
	}
	var norm float64
	for _, x := range a {
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-5 {
		t.Errorf("|v|² = %v, want 1", norm)
	}
	if diff := cmp.Diff(stub.Embedding("m1", "alpha"), a); diff != "" {
		t.Errorf("served vector differs from Embedding (-want +got):\n%s", diff)
	}

	two := embed(t, m1, `{"input":["beta","alpha"]}`)
	if len(two.Data) != 2 || two.Data[1].Index != 1 {
		t.Fatalf("list input gave %+v", two)
	}
	if diff := cmp.Diff(a, vec(two, 1)); diff != "" {
		t.Errorf("same input, different vectors (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, vec(two, 0)) {
		t.Errorf("inputs alpha and beta gave the same vector")
	}
	if cmp.Equal(a, vec(embed(t, m2, `{"input":"alpha"}`), 0)) {
		t.Errorf("models m1 and m2 gave the same vector")
	}

	b64 := embed(t, m1, `{"input":"alpha","encoding_format":"base64"}`)
	var s string
	decodeJSON(t, b64.Data[0].Embedding, &s)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(raw)/4)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("base64 vector differs from float vector (-float +base64):\n%s", diff)
	}
}

func TestBadRequests(t *testing.T) {
	srv := newServer(t, "m1")
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"chat bad JSON", "/v1/chat/completions", `{"messages":`, 400},
		{"chat trailing garbage", "/v1/chat/completions", `{"messages":[]} x`, 400},
		{"chat no messages", "/v1/chat/completions", `{"model":"m1"}`, 400},
		{"chat bad content", "/v1/chat/completions", `{"messages":[{"role":"user","content":7}]}`, 400},
		{"completions bad JSON", "/v1/completions", `nope`, 400},
		{"completions no prompt", "/v1/completions", `{}`, 400},
		{"embeddings bad JSON", "/v1/embeddings", `[`, 400},
		{"embeddings token input", "/v1/embeddings", `{"input":[1,2]}`, 400},
		{"embeddings empty list", "/v1/embeddings", `{"input":[]}`, 400},
		{"embeddings bad format", "/v1/embeddings", `{"input":"a","encoding_format":"int8"}`, 400},
		{"body too large", "/v1/embeddings", `{"input":"` + strings.Repeat("a", 5<<20) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, "POST", srv.URL+tt.path, tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d (body %s)", status, tt.status, body)
			}
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			decodeJSON(t, body, &e)
			if e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
				t.Errorf("error body %s, want an OpenAI error with a message and type invalid_request_error", body)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	srv := newServer(t, "m1")
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"GET", "/v1/chat/completions", 405},
		{"POST", "/health", 405},
		{"HEAD", "/health", 200},
	}
	for _, tt := range tests {
		if status, body := do(t, tt.method, srv.URL+tt.path, ""); status != tt.status {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, status, body, tt.status)
		}
	}
}

func TestRequestLog(t *testing.T) {
	var buf syncBuffer
	srv := httptest.NewServer(stub.Handler(stub.Options{Model: "m1", Log: &buf}))
	defer srv.Close()
	do(t, "GET", srv.URL+"/health", "")
	do(t, "POST", srv.URL+"/v1/embeddings", "{")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "GET /health 200") || !strings.Contains(lines[1], "POST /v1/embeddings 400") {
		t.Errorf("log = %q, want one line per request with method, path and status", lines)
	}
}
