// Package operator is aima's operator: an LLM agent that runs aima through
// its own operations. Its tools are the units of the registry (the same
// tools as MCP, named and described by unit.ToolName and ToolInput), the
// enabled skills matching a question are its context, and any
// OpenAI-compatible model with tool calling drives it: by default one
// served by aima itself.
//
// Every change it makes is reviewable in git. A read runs at once; a write
// either runs at once (Request.Yes: one commit per write, with a
// "Conversation: ID" trailer) or, by default, is made in a scratch copy of
// the state and recorded as a commit on the branch agent/<conversation>,
// leaving the working branch, the files and the containers as they are
// until Approve merges it (one merge commit by the approver) or Reject
// drops it. Conversations are files under .local/conversations/.
//
// The package checks no token or policy of its own: its tools are
// registry calls, which pass the same checks as every door, and its HTTP
// route sits behind the agent's door. It never offers the agent domain
// itself as tools: a model cannot approve its own proposal.
package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
	"github.com/gofrs/flock"
)

// Trailer is the commit trailer naming the conversation a change came
// from: "Conversation: c1a2b3c4d". aima log shows such a commit as the
// operator's.
const Trailer = "Conversation"

// Author commits what the operator proposes, and what it writes at once
// from the command line.
var Author = repo.Signature{Name: "aima-agent", Email: "aima-agent@localhost"}

// DefaultMaxRounds bounds the model's answers in one turn.
const DefaultMaxRounds = 30

// resultLimit bounds a tool result as the model reads it.
const resultLimit = 16 << 10

// Options configure an Operator.
type Options struct {
	// Env is what the tools act on. Required.
	Env *unit.Env
	// Registry is the operations offered as tools (default unit.Default).
	Registry *unit.Registry
	// Gateway, when set, returns the base URL and token of the agent's
	// OpenAI-compatible gateway (the command line while an agent runs):
	// a model served by aima is reached there. Otherwise it is reached at
	// its service's endpoint.
	Gateway func() (url, token string, ok bool)
	// HTTP talks to the model (default: a client without a timeout; the
	// request's context bounds it).
	HTTP *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Operator runs conversations on a state directory.
type Operator struct {
	opts Options
	env  *unit.Env
	reg  *unit.Registry

	mu    sync.Mutex
	locks map[string]*sync.Mutex // one turn, approval or deletion per conversation at a time
}

// New returns the operator of opts.Env.
func New(opts Options) *Operator {
	if opts.Env == nil || opts.Env.Store == nil {
		panic("operator.New: Options.Env (with its Store) is required")
	}
	if opts.Registry == nil {
		opts.Registry = unit.Default
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Operator{opts: opts, env: opts.Env, reg: opts.Registry, locks: map[string]*sync.Mutex{}}
}

func (o *Operator) now() time.Time { return o.opts.Now().UTC() }

// lock serialises the turns (and approve, reject, delete) of one
// conversation: within this process by a mutex, across processes (the
// CLI and the agent on one conversation) by a file lock beside it,
// .local/conversations/<id>.lock, so no message is lost to a concurrent
// save.
func (o *Operator) lock(id string) func() {
	o.mu.Lock()
	l := o.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		o.locks[id] = l
	}
	o.mu.Unlock()
	l.Lock()
	path := strings.TrimSuffix(o.convPath(id), ".json") + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return l.Unlock // the save will say why the directory cannot be made
	}
	fl := flock.New(path)
	if err := fl.Lock(); err != nil {
		return l.Unlock
	}
	return func() {
		_ = fl.Unlock()
		l.Unlock()
	}
}

// Request is one turn: POST /api/agent/chat's body.
type Request struct {
	// The user's message.
	Message string `json:"message"`
	// LLM is the model to talk to (default: local settings, else the only
	// model running).
	LLM string `json:"llm,omitempty"`
	// Conversation continues that conversation (default: a new one).
	Conversation string `json:"conversation,omitempty"`
	// Yes runs writes at once instead of proposing them for review.
	Yes bool `json:"yes,omitempty"`
	// MaxRounds bounds the model's answers in this turn (default 30).
	MaxRounds int `json:"max_rounds,omitempty"`
}

// Event is what a turn reports as it goes (the SSE events of
// POST /api/agent/chat, by Type).
type Event struct {
	// Type is "start" (the conversation and the model), "delta" (a piece
	// of the model's text as it comes), "tool" (a tool call and its
	// result), "answer" (the model's whole final text) or "stop" (the
	// round limit).
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	LLM          string `json:"llm,omitempty"`
	Round        int    `json:"round,omitempty"`
	Tool         string `json:"tool,omitempty"`
	Arguments    string `json:"arguments,omitempty"`
	// Result is the tool's answer as the model read it; Error is set when
	// the tool failed (the model reads that too).
	Result string `json:"result,omitempty"`
	Error  bool   `json:"error,omitempty"`
	// Proposed: the write was made on the conversation's branch, not
	// applied.
	Proposed bool   `json:"proposed,omitempty"`
	Content  string `json:"content,omitempty"`
}

// Result is how a turn ended.
type Result struct {
	Conversation string `json:"conversation"`
	LLM          string `json:"llm"`
	Answer       string `json:"answer"`
	Rounds       int    `json:"rounds"`
	// Stopped says why the turn ended without an answer (the round
	// limit).
	Stopped string `json:"stopped,omitempty"`
	// Proposal is the conversation's pending change set, if any.
	Proposal *Proposal `json:"proposal,omitempty"`
}

// Ask runs one turn of a conversation: the model answers, calling tools,
// until it answers without calling any, or until MaxRounds answers. The
// conversation is saved after every step, so a turn cut short (a crash, a
// restart) leaves what happened so far. Tool errors are the model's to
// read; Ask fails only when the model cannot be reached or the request is
// wrong.
func (o *Operator) Ask(ctx context.Context, req Request, emit func(Event)) (Result, error) {
	if emit == nil {
		emit = func(Event) {}
	}
	if strings.TrimSpace(req.Message) == "" {
		return Result{}, state.FieldError("message", "is required: what to ask the operator")
	}
	if req.MaxRounds < 0 {
		return Result{}, state.FieldError("max_rounds", "%d: want a positive number", req.MaxRounds)
	}
	if req.MaxRounds == 0 {
		req.MaxRounds = DefaultMaxRounds
	}
	conv := &Conversation{ID: req.Conversation, Created: o.now()}
	if req.Conversation == "" {
		conv.ID = newID()
	} else if err := checkID(req.Conversation); err != nil {
		return Result{}, err
	}
	unlock := o.lock(conv.ID)
	defer unlock()
	if req.Conversation != "" {
		c, err := o.load(req.Conversation)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return Result{}, err
		}
		if c != nil {
			conv = c
		}
	}
	l, err := o.resolveLLM(ctx, req.LLM)
	if err != nil {
		return Result{}, err
	}
	conv.LLM = l.name
	ctx = state.WithTrailer(ctx, Trailer, conv.ID)
	res := Result{Conversation: conv.ID, LLM: l.name}
	emit(Event{Type: "start", Conversation: conv.ID, LLM: l.name})

	conv.Messages = append(conv.Messages, Message{Role: "user", Content: req.Message})
	if err := o.save(conv); err != nil {
		return res, err
	}
	system := Message{Role: "system", Content: o.system(ctx, conv, req)}
	tools := o.tools()
	for round := 1; ; round++ {
		if round > req.MaxRounds {
			res.Stopped = fmt.Sprintf("stopped after %d rounds (the limit, --max-rounds); the conversation is kept: ask again to go on (aima agent ask --conversation %s ...)", req.MaxRounds, conv.ID)
			emit(Event{Type: "stop", Conversation: conv.ID, Round: round - 1, Content: res.Stopped})
			break
		}
		res.Rounds = round
		msg, err := o.chat(ctx, l, append([]Message{system}, conv.Messages...), tools, func(p string) {
			emit(Event{Type: "delta", Conversation: conv.ID, Round: round, Content: p})
		})
		if err != nil {
			return res, err
		}
		conv.Messages = append(conv.Messages, msg)
		if len(msg.ToolCalls) == 0 {
			res.Answer = msg.Content
			if err := o.save(conv); err != nil {
				return res, err
			}
			emit(Event{Type: "answer", Conversation: conv.ID, Round: round, Content: msg.Content})
			break
		}
		for _, call := range msg.ToolCalls {
			ev := o.call(ctx, conv, call, req.Yes)
			ev.Conversation, ev.Round = conv.ID, round
			conv.Messages = append(conv.Messages, Message{Role: "tool", ToolCallID: call.ID, Content: ev.Result})
			if err := o.save(conv); err != nil {
				return res, err
			}
			emit(ev)
		}
	}
	if p := conv.Proposal; p != nil && p.Status == StatusProposed {
		res.Proposal = p
	}
	return res, nil
}

// tools are the registry's units as OpenAI function tools, but the agent
// domain's: reviewing is the owner's.
func (o *Operator) tools() []map[string]any {
	var out []map[string]any
	for _, u := range o.reg.List() {
		if !offered(u) {
			continue
		}
		desc := u.Description
		if !u.Read {
			desc += " (a write)"
		}
		out = append(out, map[string]any{"type": "function", "function": map[string]any{
			"name": unit.ToolName(u.Name), "description": desc, "parameters": u.ToolInput()}})
	}
	return out
}

func offered(u unit.Unit) bool { return !strings.HasPrefix(u.Name, "agent.") }

// call runs one tool call and returns its event; a failure is a result the
// model reads.
func (o *Operator) call(ctx context.Context, conv *Conversation, call ToolCall, yes bool) Event {
	ev := Event{Type: "tool", Tool: call.Function.Name, Arguments: call.Function.Arguments}
	fail := func(msg string) Event {
		ev.Result, ev.Error = msg, true
		return ev
	}
	var u unit.Unit
	found := false
	for _, c := range o.reg.List() {
		if offered(c) && unit.ToolName(c.Name) == call.Function.Name {
			u, found = c, true
		}
	}
	if !found {
		return fail(fmt.Sprintf("no tool %q: call one of the tools offered (such as model_list, service_create)", call.Function.Name))
	}
	params := map[string]any{}
	if a := strings.TrimSpace(call.Function.Arguments); a != "" && a != "null" {
		if err := json.Unmarshal([]byte(a), &params); err != nil {
			return fail(fmt.Sprintf("%s: the arguments must be a JSON object of the tool's parameters: %v", call.Function.Name, err))
		}
	}
	var out map[string]any
	var err error
	switch {
	case u.Read || yes:
		out, err = o.reg.Call(ctx, o.env, u.Name, params)
	default:
		out, err = o.propose(ctx, conv, u, params)
		ev.Proposed = err == nil
	}
	if err != nil {
		return fail(unit.ErrorText(u.Name, err))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fail(unit.ErrorText(u.Name, err))
	}
	ev.Result = string(b)
	if len(ev.Result) > resultLimit {
		ev.Result = ev.Result[:resultLimit] + "... (cut)"
	}
	return ev
}

// system is the system message of a turn: what the operator is, how its
// writes take effect, and the enabled skills that match the question.
func (o *Operator) system(ctx context.Context, conv *Conversation, req Request) string {
	var b strings.Builder
	b.WriteString("You are aima's operator. aima manages AI inference on this machine: models, the engines that serve them and services " +
		"(containers), each object a YAML file in a git repository. Every tool is one aima operation (<domain>_<verb>). " +
		"state_status shows every object and its observed state; service_logs and service_status say why a service failed. " +
		"To serve a model: model_create, service_create (model and engine, e.g. engine stub), service_start, then inference_chat. ")
	if req.Yes {
		b.WriteString("Your writes take effect at once, each a git commit. ")
	} else {
		fmt.Fprintf(&b, "Your writes are proposed, not applied: each is a commit on the git branch agent/%s for the owner to review "+
			"(aima agent show %s, then approve or reject); reads do not see them. Say what you proposed. ", conv.ID, conv.ID)
	}
	b.WriteString("Answer briefly and plainly.")
	out, err := o.reg.Call(ctx, o.env, "skill.search", map[string]any{"query": req.Message})
	if err != nil {
		return b.String()
	}
	items, _ := out["items"].([]map[string]any)
	for i, it := range items { // best first
		if i == 3 {
			break
		}
		e, err := o.env.Store.Get(state.KindSkill, fmt.Sprint(it["name"]))
		if err != nil {
			continue
		}
		if sk, ok := e.Object.(*state.Skill); ok {
			content := sk.Content
			if len(content) > 4000 {
				content = content[:4000] + "..."
			}
			fmt.Fprintf(&b, "\n\n## Skill: %s\n%s\n%s", sk.Name, sk.Description, content)
		}
	}
	return b.String()
}
