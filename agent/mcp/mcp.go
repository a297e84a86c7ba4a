// Package mcp is aima's Model Context Protocol door: every operation of the
// unit registry as a tool (model_list, service_start, ...), the state
// files, the JSON Schemas and the git log as resources, and the enabled
// skills as prompts, served with the official Go SDK over stdio (`aima
// mcp`) and Streamable HTTP (/mcp on the agent).
//
// Like the HTTP routes and the OpenAPI document, everything here is
// generated from the registry and the store: the package implements no
// verb, and writes are the units' commits, attributed to the client. It
// checks no token, Host or Origin itself: over HTTP the agent's door
// (package api) has checked them before a request gets here.
package mcp

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// ClientTrailer is the commit trailer naming the MCP client a write came
// through (its clientInfo: "MCP-Client: claude-code 1.0.3").
const ClientTrailer = "MCP-Client"

// Options configure a Server.
type Options struct {
	// Env is what the units act on. Required.
	Env *unit.Env
	// Registry is the operations served as tools (default unit.Default).
	Registry *unit.Registry
	// Version is the server version told to clients.
	Version string
	// Author, when set, commits every write (stdio: the command line's
	// author, else "mcp"). Unset, a write commits as the author its
	// request's context carries: over HTTP the door's, the token's name.
	Author repo.Signature
	// ProgressEvery is how often a call that asked for progress reports it
	// (default one second).
	ProgressEvery time.Duration
	// Log receives the SDK's log (nil: none).
	Log *slog.Logger
	// SessionTimeout ends an HTTP session that made no request for this
	// long (default an hour), so sessions a token holder opens and leaves
	// do not pile up; a client whose session ended gets 404 and, as the
	// protocol says, starts a new one.
	SessionTimeout time.Duration
}

// DefaultSessionTimeout is Options.SessionTimeout's default.
const DefaultSessionTimeout = time.Hour

// Server is the MCP server of a state directory. Create it with New; serve
// it with Run (stdio) or Handler (Streamable HTTP).
type Server struct {
	opts  Options
	reg   *unit.Registry
	sdk   *sdk.Server
	every time.Duration

	mu        sync.Mutex        // serialises Refresh
	resources map[string]bool   // URIs of the state objects served now
	prompts   map[string]string // the skills served as prompts: name → description
	changed   chan struct{}
}

// New returns the server for opts: a tool per unit, the static resources
// (schemas, log) and, from the store as it is now, a resource per object
// and a prompt per enabled skill.
func New(opts Options) *Server {
	if opts.Env == nil || opts.Env.Store == nil {
		panic("mcp.New: Options.Env (with its Store) is required")
	}
	s := &Server{opts: opts, reg: opts.Registry, every: opts.ProgressEvery,
		resources: map[string]bool{}, prompts: map[string]string{}, changed: make(chan struct{}, 1)}
	if s.reg == nil {
		s.reg = unit.Default
	}
	if s.every <= 0 {
		s.every = time.Second
	}
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "aima", Title: "aima: AI inference as files in git", Version: opts.Version}, &sdk.ServerOptions{
		Instructions: "aima manages AI inference on this machine: models, the engines that serve them and services (containers), each a file in a git repository. " +
			"Every tool is one aima operation (<domain>_<verb>); each write is one git commit naming you. state_status shows every object and its observed state, state_diff what a sync would do; " +
			"the files are resources (aima://services/<name>, ...) and the enabled skills prompts. To serve a model: " +
			"create it (model_create), a service of it (service_create with model and engine, e.g. engine stub), start it (service_start with wait), then chat (inference_chat).",
		Logger: opts.Log,
		Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{ListChanged: true},
			Resources: &sdk.ResourceCapabilities{ListChanged: true}, Prompts: &sdk.PromptCapabilities{ListChanged: true}},
	})
	for _, u := range s.reg.List() {
		s.sdk.AddTool(Tool(u), s.call(u))
	}
	s.addStatic()
	if err := s.Refresh(); err != nil && opts.Log != nil {
		opts.Log.Warn("mcp: list the state", "error", err)
	}
	return s
}

// Run serves one client on t (stdio: &Stdio{In: os.Stdin, Out: os.Stdout})
// until the client goes (end of input) or ctx ends.
func (s *Server) Run(ctx context.Context, t sdk.Transport) error {
	return s.sdk.Run(ctx, t)
}

// Connect serves one client on t in the background (tests, in process).
func (s *Server) Connect(ctx context.Context, t sdk.Transport) (*sdk.ServerSession, error) {
	return s.sdk.Connect(ctx, t, nil)
}

// Handler serves Streamable HTTP (one session per client, its
// notifications on the GET stream). Host, Origin and token are the
// caller's to check: the SDK's own localhost check is off, so the names
// the agent's door allows are not refused here. A session belongs to the
// bearer token that opened it (its writes commit as that token's name):
// another token gets 403 for it.
func (s *Server) Handler() http.Handler {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.sdk },
		&sdk.StreamableHTTPOptions{DisableLocalhostProtection: true, Logger: s.opts.Log, SessionTimeout: cmp.Or(s.opts.SessionTimeout, DefaultSessionTimeout)})
	// The door has checked the token; this only names its holder, so the
	// SDK refuses a session to anyone else.
	bound := auth.RequireBearerToken(func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		sum := sha256.Sum256([]byte(token))
		return &auth.TokenInfo{UserID: hex.EncodeToString(sum[:]), Expiration: time.Now().Add(time.Hour)}, nil
	}, nil)(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			bound.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r) // no token: a door without one (tests)
	})
}

// Close ends every session (their streams too, so an HTTP server shutting
// down does not wait for them).
func (s *Server) Close() {
	for ss := range s.sdk.Sessions() {
		_ = ss.Close()
	}
}

// Tool is the MCP tool of a unit: its name with "_" for ".", its
// description, its request's schema as input, its answer's (when it has
// a typed one) as output, and hints from whether it reads or writes.
func Tool(u unit.Unit) *sdk.Tool {
	t := &sdk.Tool{Name: ToolName(u.Name), Description: u.Description, InputSchema: u.ToolInput(), Annotations: annotations(u)}
	if out := u.ToolOutput(); out != nil {
		t.OutputSchema = out
	}
	return t
}

// ToolName is the tool name of a unit (unit.ToolName: "model.list" is
// model_list).
func ToolName(unitName string) string { return unit.ToolName(unitName) }

// annotations are the hints of a unit: a read only reads; a write that
// removes or replaces something (delete, stop, update, rollback, sync,
// cancel, a pipeline or pull that may do any of these) is destructive;
// one whose repetition changes nothing more is idempotent.
func annotations(u unit.Unit) *sdk.ToolAnnotations {
	f, t := false, true
	domain, verb, _ := strings.Cut(u.Name, ".")
	a := &sdk.ToolAnnotations{Title: u.Name, ReadOnlyHint: u.Read, OpenWorldHint: &f}
	switch u.Name {
	case "model.pull", "remote.push", "remote.pull", "inference.chat":
		a.OpenWorldHint = &t // the network, a remote, a model's answers
	}
	if u.Read {
		a.IdempotentHint = true
		return a
	}
	destructive := false
	switch verb {
	case "delete", "stop", "update", "rollback", "sync", "cancel", "disable", "run", "pull":
		destructive = true
	}
	if domain == "inference" {
		destructive = false // a chat changes no state
	}
	a.DestructiveHint = &destructive
	switch verb {
	case "delete", "start", "stop", "update", "sync", "cancel", "enable", "disable", "pull", "push":
		a.IdempotentHint = true
	}
	return a
}

// call is the tool handler of a unit: arguments that are not a JSON object
// are a protocol error (invalid params); a unit's own error, bad fields
// included, is a tool result with isError, so the model reads it and can
// correct the call.
func (s *Server) call(u unit.Unit) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		params := map[string]any{}
		if a := req.Params.Arguments; len(a) > 0 && string(a) != "null" {
			if err := json.Unmarshal(a, &params); err != nil {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams,
					Message: fmt.Sprintf("tool %s: arguments must be a JSON object of the tool's input schema (%v)", ToolName(u.Name), err)}
			}
		}
		ctx = s.attribute(ctx, req.Session)
		if tok := req.Params.GetProgressToken(); tok != nil {
			stop := s.progress(ctx, req.Session, tok, u, params)
			defer stop()
		}
		out, err := s.reg.Call(ctx, s.opts.Env, u.Name, params)
		if err != nil {
			return errorResult(u, err), nil
		}
		if !u.Read {
			_ = s.Refresh() // a write may add or remove files: list_changed before the answer
		}
		b, err := json.Marshal(out)
		if err != nil {
			return errorResult(u, err), nil
		}
		return &sdk.CallToolResult{StructuredContent: json.RawMessage(b),
			Content: []sdk.Content{&sdk.TextContent{Text: summary(u, out) + "\n" + string(b)}}}, nil
	}
}

// attribute makes the writes of a call commit as the server's author (when
// it has one) with the client's name as a trailer.
func (s *Server) attribute(ctx context.Context, ss *sdk.ServerSession) context.Context {
	if s.opts.Author.Name != "" {
		ctx = state.WithAuthor(ctx, s.opts.Author)
	}
	if ss != nil {
		if ip := ss.InitializeParams(); ip != nil && ip.ClientInfo != nil && ip.ClientInfo.Name != "" {
			ctx = state.WithTrailer(ctx, ClientTrailer, strings.TrimSpace(ip.ClientInfo.Name+" "+ip.ClientInfo.Version))
		}
	}
	return ctx
}

// progress reports a long call to a client that sent a progress token: at
// once, then every ProgressEvery, with the time taken and, for a service
// or an app, its observed status. The returned stop waits for the reporter,
// so no progress follows the answer.
func (s *Server) progress(ctx context.Context, ss *sdk.ServerSession, tok any, u unit.Unit, params map[string]any) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		tick := time.NewTicker(s.every)
		defer tick.Stop()
		for n := 1; ; n++ {
			took := time.Since(start).Round(time.Second)
			msg := fmt.Sprintf("%s: working, %s", u.Name, took)
			if st := s.observed(ctx, u, params); st != "" {
				msg = fmt.Sprintf("%s: %s, %s", u.Name, st, took)
			}
			_ = ss.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok, Progress: float64(n), Message: msg})
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// observed is the status of the service or app a call acts on ("" for
// other units, or when there are no containers to ask).
func (s *Server) observed(ctx context.Context, u unit.Unit, params map[string]any) string {
	kind, _, _ := strings.Cut(u.Name, ".")
	name := unit.String(params, "id", "name")
	if (kind != "service" && kind != "app") || name == "" || s.opts.Env.Services == nil {
		return ""
	}
	st, err := s.opts.Env.Services.Status(ctx, kind, name)
	if err != nil || st["status"] == nil {
		return ""
	}
	return fmt.Sprintf("%s %s is %v", kind, name, st["status"])
}

// summary is the short line before the JSON of an answer.
func summary(u unit.Unit, out map[string]any) string {
	if total, ok := out["total"]; ok {
		return fmt.Sprintf("%s: %v item(s)", u.Name, total)
	}
	s := u.Name + ": ok"
	if name, ok := out["name"].(string); ok && name != "" {
		s = u.Name + ": " + name
	}
	if st, ok := out["status"]; ok {
		s += fmt.Sprintf(" (%v)", st)
	}
	return s
}

// errorResult is a unit's error as the model sees it (unit.ErrorText).
func errorResult(u unit.Unit, err error) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: unit.ErrorText(u.Name, err)}}}
}
