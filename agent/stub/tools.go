package stub

import (
	"fmt"
	"strings"
)

// The scripted tool-calling mode makes the stub a model that calls tools,
// so an operator loop runs end to end without a real LLM: when a chat
// request offers tools and its last user message holds lines
//
//	call TOOL {json-args}
//
// the stub answers each round with one tool call, the first such line
// that has no tool result yet in the conversation (results are counted
// among the messages after that user message, in order), and once every
// line has its result it answers "done: " followed by the results, each
// cut to ResultLimit bytes. Forty call lines are forty rounds.

// ResultLimit bounds each tool result quoted in the scripted "done:" answer.
const ResultLimit = 400

// toolCall is a call in OpenAI's shape.
type toolCall struct {
	Index    *int     `json:"index,omitempty"` // streamed deltas only
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// script is what the scripted mode answers to messages: a tool call, or
// (call nil) the final text. ok is false when the request is not scripted.
func script(req chatRequest) (call *toolCall, text string, ok bool) {
	if len(req.Tools) == 0 {
		return nil, "", false
	}
	lastUser := -1
	for i, m := range req.Messages {
		if m.Role == "user" {
			lastUser = i
		}
	}
	if lastUser < 0 {
		return nil, "", false
	}
	content, _ := contentText(req.Messages[lastUser].Content)
	var lines []string
	for _, l := range strings.Split(content, "\n") {
		if rest, found := strings.CutPrefix(strings.TrimSpace(l), "call "); found && strings.TrimSpace(rest) != "" {
			lines = append(lines, strings.TrimSpace(rest))
		}
	}
	if len(lines) == 0 {
		return nil, "", false
	}
	var results []string
	for _, m := range req.Messages[lastUser+1:] {
		if m.Role == "tool" {
			r, _ := contentText(m.Content)
			results = append(results, r)
		}
	}
	if n := len(results); n < len(lines) {
		name, args, _ := strings.Cut(lines[n], " ")
		args = strings.TrimSpace(args)
		if args == "" {
			args = "{}"
		}
		return &toolCall{ID: fmt.Sprintf("call_%d", n+1), Type: "function", Function: function{Name: name, Arguments: args}}, "", true
	}
	var b strings.Builder
	b.WriteString("done:")
	for _, r := range results {
		if len(r) > ResultLimit {
			r = r[:ResultLimit] + "..."
		}
		b.WriteString(" " + r)
	}
	return nil, b.String(), true
}
