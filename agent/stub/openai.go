package stub

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// EmbeddingDim is the length of every vector /v1/embeddings returns.
const EmbeddingDim = 8

// Answer is the text the stub engine serving model gives to message (the
// last user message of a chat, or a completion prompt). Tests of other
// packages use it to predict what a stub service answers.
func Answer(model, message string) string {
	if message == "" {
		return "stub answer from " + model
	}
	return "stub answer from " + model + ": " + message
}

// Embedding is the unit vector the stub engine serving model returns for
// input: EmbeddingDim numbers derived from a SHA-256 of both, so equal
// inputs agree and different models disagree.
func Embedding(model, input string) []float32 {
	sum := sha256.Sum256([]byte(model + "\x00" + input))
	v := make([]float32, EmbeddingDim)
	var norm float64
	for i := range v {
		// Four bytes per component, mapped onto [-1, 1].
		u := binary.BigEndian.Uint32(sum[4*i:])
		x := float64(u)/math.MaxUint32*2 - 1
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return v
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}

type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatRequest holds the fields of a chat completion request the stub looks
// at; others (temperature, tool_choice, ...) are accepted and ignored.
// Tools matter only to the scripted tool-calling mode (see script).
type chatRequest struct {
	Tools               []json.RawMessage `json:"tools"`
	Model               string            `json:"model"`
	Messages            []chatMessage     `json:"messages"`
	Stream              bool              `json:"stream"`
	StreamOptions       *streamOptions    `json:"stream_options"`
	MaxTokens           int               `json:"max_tokens"`
	MaxCompletionTokens int               `json:"max_completion_tokens"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	// SystemFingerprint names the stub that answered: "fp_" and its
	// host name (a container's short id), so replicas can be told apart.
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []chatChoice `json:"choices"`
	Usage             usage        `json:"usage"`
}

type chatChoice struct {
	Index        int        `json:"index"`
	Message      chatOutput `json:"message"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason string     `json:"finish_reason"`
}

type chatOutput struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type chatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint string            `json:"system_fingerprint,omitempty"`
	Choices           []chatChunkChoice `json:"choices"`
	Usage             *usage            `json:"usage,omitempty"`
}

type chatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        chatDelta `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type chatDelta struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages: must be a non-empty list")
		return
	}
	// A pulled model answers as itself; any other name as the stub's own
	// model (the stub has always answered whatever name it was sent).
	model, ok := s.serves(req.Model)
	if !ok {
		model = s.model
	}
	var last string
	prompt := 0
	for i, m := range req.Messages {
		text, err := contentText(m.Content)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("messages[%d].content: %v", i, err))
			return
		}
		prompt += len(pieces(text))
		if m.Role == "user" {
			last = text
		}
	}
	limit := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		limit = req.MaxCompletionTokens
	}
	answer := Answer(model, last)
	call, scripted, isScript := script(req)
	if isScript && call == nil {
		answer = scripted
	}
	out, finish := truncate(pieces(answer), limit)
	var calls []toolCall
	if call != nil {
		out, finish, calls = nil, "tool_calls", []toolCall{*call}
	}
	u := usage{PromptTokens: prompt, CompletionTokens: len(out), TotalTokens: prompt + len(out)}
	content := strings.Join(out, "")
	id := digestID("chatcmpl-", model, content, fmt.Sprint(calls))
	created := time.Now().Unix()

	if !req.Stream {
		writeJSON(w, http.StatusOK, chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: model, SystemFingerprint: s.fingerprint,
			Choices: []chatChoice{{Message: chatOutput{Role: "assistant", Content: content, ToolCalls: calls}, FinishReason: finish}},
			Usage:   u,
		})
		return
	}

	sse := startSSE(w)
	chunk := func(d chatDelta, finish *string) chatChunk {
		return chatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: s.fingerprint,
			Choices: []chatChunkChoice{{Delta: d, FinishReason: finish}},
		}
	}
	empty := ""
	sse.send(chunk(chatDelta{Role: "assistant", Content: &empty}, nil))
	for _, p := range out {
		sse.send(chunk(chatDelta{Content: &p}, nil))
	}
	for i, c := range calls {
		c.Index = &i
		sse.send(chunk(chatDelta{ToolCalls: []toolCall{c}}, nil))
	}
	sse.send(chunk(chatDelta{}, &finish))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		sse.send(chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, Choices: []chatChunkChoice{}, Usage: &u})
	}
	sse.done()
}

// completionRequest holds the fields of a (legacy) text completion request
// the stub looks at.
type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	MaxTokens     int             `json:"max_tokens"`
}

type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *usage             `json:"usage,omitempty"`
}

type completionChoice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

func (s *server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if !decode(w, r, &req) {
		return
	}
	prompts, err := stringOrList(req.Prompt)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "prompt: "+err.Error())
		return
	}
	var (
		texts   [][]string
		finishs []string
		u       usage
	)
	for _, p := range prompts {
		out, finish := truncate(pieces(Answer(s.model, p)), req.MaxTokens)
		texts = append(texts, out)
		finishs = append(finishs, finish)
		u.PromptTokens += len(pieces(p))
		u.CompletionTokens += len(out)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	id := digestID("cmpl-", append([]string{s.model}, prompts...)...)
	created := time.Now().Unix()

	if !req.Stream {
		c := completion{ID: id, Object: "text_completion", Created: created, Model: s.model, Usage: &u}
		for i, out := range texts {
			c.Choices = append(c.Choices, completionChoice{Index: i, Text: strings.Join(out, ""), FinishReason: &finishs[i]})
		}
		writeJSON(w, http.StatusOK, c)
		return
	}

	sse := startSSE(w)
	chunk := func(i int, text string, finish *string) completion {
		return completion{
			ID: id, Object: "text_completion", Created: created, Model: s.model,
			Choices: []completionChoice{{Index: i, Text: text, FinishReason: finish}},
		}
	}
	for i, out := range texts {
		for _, p := range out {
			sse.send(chunk(i, p, nil))
		}
		sse.send(chunk(i, "", &finishs[i]))
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		sse.send(completion{ID: id, Object: "text_completion", Created: created, Model: s.model, Choices: []completionChoice{}, Usage: &u})
	}
	sse.done()
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
}

type embeddingList struct {
	Object string      `json:"object"`
	Data   []embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

type embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

func (s *server) embeddings(w http.ResponseWriter, r *http.Request) {
	var req embeddingRequest
	if !decode(w, r, &req) {
		return
	}
	inputs, err := stringOrList(req.Input)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "input: "+err.Error())
		return
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("encoding_format: %q is not one of float, base64", req.EncodingFormat))
		return
	}
	out := embeddingList{Object: "list", Model: s.model, Data: []embedding{}}
	for i, in := range inputs {
		v := Embedding(s.model, in)
		var e any = v
		if req.EncodingFormat == "base64" {
			// OpenAI's base64 form: little-endian float32s. The official
			// Python client asks for it by default.
			buf := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			e = base64.StdEncoding.EncodeToString(buf)
		}
		out.Data = append(out.Data, embedding{Object: "embedding", Index: i, Embedding: e})
		out.Usage.PromptTokens += len(pieces(in))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	writeJSON(w, http.StatusOK, out)
}

// contentText is the text of a chat message's content: a string, null, or
// a list of content parts whose "text" parts are joined.
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or a list of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// stringOrList decodes an OpenAI "string or array of strings" field.
func stringOrList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errors.New("required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("must be a string or a list of strings")
	}
	if len(list) == 0 {
		return nil, errors.New("must not be an empty list")
	}
	return list, nil
}

// pieces splits s into the stub's "tokens": each word with the white space
// before it, so that joining the pieces gives s back and streaming them
// reassembles the exact answer.
func pieces(s string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if inWord && space {
			out = append(out, s[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(s) {
		if len(out) > 0 && strings.TrimSpace(s[start:]) == "" {
			out[len(out)-1] += s[start:] // trailing white space
		} else {
			out = append(out, s[start:])
		}
	}
	return out
}

// truncate keeps at most limit pieces (no limit when limit <= 0) and gives
// the matching finish reason.
func truncate(p []string, limit int) ([]string, string) {
	if limit > 0 && len(p) > limit {
		return p[:limit], "length"
	}
	return p, "stop"
}

// digestID is a response id derived from its content, so that equal
// requests get equal answers.
func digestID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:24]
}

// sse writes a server-sent event stream in OpenAI's form.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: http.NewResponseController(w)}
}

// send writes one "data:" event and flushes it. Write errors mean the
// client went away; the handler finishes quickly either way.
func (e *sse) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("stub: marshal %T: %v", v, err))
	}
	fmt.Fprintf(e.w, "data: %s\n\n", b)
	e.rc.Flush()
}

func (e *sse) done() {
	fmt.Fprint(e.w, "data: [DONE]\n\n")
	e.rc.Flush()
}
