package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// ErrNoLLM: the operator has no model to talk to (a state.ErrUnavailable:
// HTTP 503).
var ErrNoLLM error = noLLM{}

type noLLM struct{}

func (noLLM) Error() string        { return "no LLM for the operator" }
func (noLLM) Is(target error) bool { return target == state.ErrUnavailable }

// howToSetLLM says every way to give the operator a model.
const howToSetLLM = "name a model served by aima with --llm MODEL (HTTP: \"llm\": \"MODEL\"), or set it in .aima/.local/settings.yaml: " +
	"llm: {model: NAME} for a model served by aima, or llm: {endpoint: https://HOST/v1, model: NAME, api_key: ${env:VAR}} for any OpenAI-compatible endpoint"

// llm is the endpoint a conversation talks to.
type llm struct {
	url   string // the chat completions URL
	model string
	key   string // bearer token, "" for none
	name  string // how it is shown: the model, and the endpoint when it is not aima's
}

// chatURL is the chat completions URL of an OpenAI-compatible base URL
// ("https://api.openai.com/v1", "http://host:8000", or the full URL).
func chatURL(endpoint string) string {
	e := strings.TrimRight(endpoint, "/")
	switch {
	case strings.HasSuffix(e, "/chat/completions"):
		return e
	case strings.HasSuffix(e, "/v1"):
		return e + "/chat/completions"
	}
	return e + "/v1/chat/completions"
}

var envRef = regexp.MustCompile(`^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$`)

// resolveLLM chooses the model: an endpoint in local settings; else a model
// served by aima named by name, local settings, or being the only one
// running, reached through the agent's gateway when there is one, else
// straight at its service.
func (o *Operator) resolveLLM(ctx context.Context, name string) (llm, error) {
	ls, err := o.env.Store.LocalSettings()
	if err != nil {
		return llm{}, err
	}
	set := ls.LLM
	if set == nil {
		set = &state.LLMSettings{}
	}
	if set.Endpoint != "" {
		model := firstOf(name, set.Model)
		if model == "" {
			return llm{}, fmt.Errorf("%w: llm.endpoint is set in %s but llm.model is not", ErrNoLLM, state.LocalSettingsPath)
		}
		key := set.APIKey
		if m := envRef.FindStringSubmatch(key); m != nil {
			if key = os.Getenv(m[1]); key == "" {
				return llm{}, fmt.Errorf("%w: llm.api_key in %s is ${env:%s}, and %s is not set", ErrNoLLM, state.LocalSettingsPath, m[1], m[1])
			}
		}
		return llm{url: chatURL(set.Endpoint), model: model, key: key, name: model + " at " + set.Endpoint}, nil
	}
	model := firstOf(name, set.Model)
	if model == "" {
		running, err := o.runningModels(ctx)
		if err != nil {
			return llm{}, err
		}
		switch len(running) {
		case 0:
			return llm{}, fmt.Errorf("%w: no model is running and none is set: %s", ErrNoLLM, howToSetLLM)
		case 1:
			model = running[0]
		default:
			return llm{}, fmt.Errorf("%w: %d models are running (%s), and none is chosen: %s", ErrNoLLM, len(running), strings.Join(running, ", "), howToSetLLM)
		}
	}
	if o.opts.Gateway != nil {
		if base, token, ok := o.opts.Gateway(); ok {
			return llm{url: chatURL(base), model: model, key: token, name: model}, nil
		}
	}
	if o.env.Services == nil {
		return llm{}, fmt.Errorf("%w: model %s is served by aima, and no container runtime is reachable here", ErrNoLLM, model)
	}
	endpoint, err := o.env.Services.Route(ctx, model)
	if err != nil {
		return llm{}, fmt.Errorf("%w: %v (%s)", ErrNoLLM, err, howToSetLLM)
	}
	return llm{url: chatURL(endpoint), model: model, name: model}, nil
}

// runningModels are the models with a running service.
func (o *Operator) runningModels(ctx context.Context) ([]string, error) {
	out, err := o.reg.Call(ctx, o.env, "inference.list", nil)
	if err != nil {
		return nil, err
	}
	items, _ := out["items"].([]map[string]any)
	var names []string
	for _, it := range items {
		svcs, _ := it["services"].([]map[string]any)
		for _, s := range svcs {
			if s["status"] == "running" {
				names = append(names, fmt.Sprint(it["model"]))
				break
			}
		}
	}
	return names, nil
}

// chunk is the part of a streamed chat completion chunk the loop reads.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content   string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
	} `json:"choices"`
}

// chat asks the model once, streaming: each piece of text goes to piece as
// it comes; the tool calls are put together from their deltas (a call's
// name and id come first, its arguments in parts, by index). An endpoint
// that answers with a whole completion instead of a stream is read as
// such.
func (o *Operator) chat(ctx context.Context, l llm, msgs []Message, tools []map[string]any, piece func(string)) (Message, error) {
	body, err := json.Marshal(map[string]any{"model": l.model, "messages": msgs, "tools": tools, "stream": true})
	if err != nil {
		return Message{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return Message{}, fmt.Errorf("LLM %s: %w", l.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if l.key != "" {
		req.Header.Set("Authorization", "Bearer "+l.key)
	}
	resp, err := o.opts.HTTP.Do(req)
	if err != nil {
		return Message{}, fmt.Errorf("LLM %s: %w: %v", l.name, state.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return Message{}, fmt.Errorf("LLM %s: %w: %s answered %d: %s", l.name, state.ErrUnavailable, l.url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	m := Message{Role: "assistant"}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var a struct {
			Choices []struct {
				Message Message `json:"message"`
			} `json:"choices"`
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return m, fmt.Errorf("LLM %s: %w", l.name, err)
		}
		if err := json.Unmarshal(b, &a); err != nil || len(a.Choices) == 0 {
			return m, fmt.Errorf("LLM %s: not a chat completion: %.200s", l.name, b)
		}
		m = a.Choices[0].Message
		m.Role = "assistant"
		if m.Content != "" {
			piece(m.Content)
		}
		return m, nil
	}
	var text strings.Builder
	_, err = unit.ReadEvents(resp.Body, func(data []byte) error {
		var c chunk
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("not a chat completion chunk: %.200s", data)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				text.WriteString(ch.Delta.Content)
				piece(ch.Delta.Content)
			}
			for _, tc := range ch.Delta.ToolCalls {
				for len(m.ToolCalls) <= tc.Index {
					m.ToolCalls = append(m.ToolCalls, ToolCall{Type: "function"})
				}
				call := &m.ToolCalls[tc.Index]
				if tc.ID != "" {
					call.ID = tc.ID
				}
				call.Function.Name += tc.Function.Name
				call.Function.Arguments += tc.Function.Arguments
			}
		}
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("LLM %s: %w", l.name, err)
	}
	m.Content = text.String()
	return m, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
