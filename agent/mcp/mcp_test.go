package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/aima-dev/aima/agent/mcp"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

func newEnv(t *testing.T) *unit.Env {
	t.Helper()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	return &unit.Env{Store: st}
}

// client connects an SDK client to srv in process; notes receives the
// list_changed notifications ("resources", "prompts") and progress
// messages.
func client(t *testing.T, srv *mcp.Server) (*sdk.ClientSession, <-chan string) {
	t.Helper()
	notes := make(chan string, 100)
	note := func(s string) {
		select {
		case notes <- s:
		default:
		}
	}
	ct, st := sdk.NewInMemoryTransports()
	ctx := context.Background()
	if _, err := srv.Connect(ctx, st); err != nil {
		t.Fatal(err)
	}
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "0.1"}, &sdk.ClientOptions{
		ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) { note("resources") },
		PromptListChangedHandler:   func(context.Context, *sdk.PromptListChangedRequest) { note("prompts") },
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			note("progress: " + r.Params.Message)
		},
	})
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, notes
}

func call(t *testing.T, cs *sdk.ClientSession, tool string, args map[string]any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

func textOf(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestMCPToolsAreTheRegistry(t *testing.T) {
	cs, _ := client(t, mcp.New(mcp.Options{Env: newEnv(t)}))
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.Tools), len(unit.Default.List()); got != want {
		t.Fatalf("tools/list has %d tools, the registry %d units", got, want)
	}
	tools := map[string]*sdk.Tool{}
	for _, tl := range res.Tools {
		tools[tl.Name] = tl
	}
	for _, u := range unit.Default.List() {
		tl := tools[mcp.ToolName(u.Name)]
		if tl == nil {
			t.Fatalf("no tool for unit %s", u.Name)
		}
		if tl.Annotations == nil || tl.Annotations.ReadOnlyHint != u.Read {
			t.Errorf("%s: readOnlyHint %v, unit reads: %v", tl.Name, tl.Annotations, u.Read)
		}
		if s, _ := tl.InputSchema.(map[string]any); s["type"] != "object" {
			t.Errorf("%s: input schema %v", tl.Name, tl.InputSchema)
		}
	}
	for name, want := range map[string]bool{"model_delete": true, "service_stop": true, "model_create": false, "service_start": false} {
		a := tools[name].Annotations
		if a.DestructiveHint == nil || *a.DestructiveHint != want {
			t.Errorf("%s: destructiveHint %v, want %v", name, a.DestructiveHint, want)
		}
	}
	if !tools["service_start"].Annotations.IdempotentHint || tools["model_create"].Annotations.IdempotentHint {
		t.Errorf("idempotentHint: service_start %v, model_create %v", tools["service_start"].Annotations, tools["model_create"].Annotations)
	}
	// The input schema names the fields (a model's create takes the model's).
	in, _ := json.Marshal(tools["model_create"].InputSchema)
	for _, f := range []string{`"name"`, `"source"`, `"repo"`} {
		if !strings.Contains(string(in), f) {
			t.Errorf("model_create input schema lacks %s: %s", f, in)
		}
	}
	// Their descriptions are the kind's schema's (the Go doc comments).
	if !strings.Contains(string(in), `"description":"Where the model comes from."`) {
		t.Errorf("model_create input schema lacks the description of source: %s", in)
	}
	// Units documented by parameters alone show them.
	in, _ = json.Marshal(tools["model_pull"].InputSchema)
	if !strings.Contains(string(in), `"to"`) {
		t.Errorf("model_pull input schema: %s", in)
	}
	if tools["model_list"].OutputSchema == nil {
		t.Error("model_list has no output schema")
	}
}

func TestMCPWriteIsACommitNamingTheClient(t *testing.T) {
	env := newEnv(t)
	cs, notes := client(t, mcp.New(mcp.Options{Env: env, Author: repo.Signature{Name: "mcp", Email: "aima@localhost"}}))
	res := call(t, cs, "model_create", map[string]any{"name": "tiny", "source": "ollama", "repo": "tinyllama"})
	if res.IsError {
		t.Fatalf("model_create: %s", textOf(res))
	}
	var out map[string]any
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || out["name"] != "tiny" || out["repo"] != "tinyllama" {
		t.Fatalf("structured content %s", b)
	}
	if !strings.HasPrefix(textOf(res), "model.create: tiny\n") {
		t.Errorf("text %q", textOf(res))
	}
	r, err := env.Store.Repo()
	if err != nil {
		t.Fatal(err)
	}
	log, err := r.Log("models/tiny.yaml", 1)
	if err != nil || len(log) != 1 {
		t.Fatalf("log of models/tiny.yaml: %v %v", log, err)
	}
	if log[0].Author != "mcp" || !strings.Contains(log[0].Message, "\n\nMCP-Client: test-client 0.1") {
		t.Errorf("commit by %q: %q", log[0].Author, log[0].Message)
	}
	// The new file is a resource, and the client was told before the answer.
	waitNote(t, notes, "resources")
	rr, err := cs.ReadResource(context.Background(), &sdk.ReadResourceParams{URI: "aima://models/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if got := rr.Contents[0].Text; !strings.Contains(got, "repo: tinyllama") || rr.Contents[0].MIMEType != "application/yaml" {
		t.Errorf("aima://models/tiny: %s %q", rr.Contents[0].MIMEType, got)
	}
	// and model_list reads it.
	res = call(t, cs, "model_list", nil)
	if res.IsError || !strings.HasPrefix(textOf(res), "model.list: 1 item(s)") {
		t.Errorf("model_list: %s", textOf(res))
	}
}

func waitNote(t *testing.T, notes <-chan string, want string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case n := <-notes:
			if strings.HasPrefix(n, want) {
				return n
			}
		case <-deadline:
			t.Fatalf("no %q notification", want)
		}
	}
}

func TestMCPErrors(t *testing.T) {
	cs, _ := client(t, mcp.New(mcp.Options{Env: newEnv(t)}))
	ctx := context.Background()
	// An unknown tool is a protocol error.
	_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "model_frobnicate"})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != jsonrpc.CodeInvalidParams || !strings.Contains(we.Message, "model_frobnicate") {
		t.Errorf("unknown tool: %v", err)
	}
	// Arguments that are not an object are a protocol error (invalid params).
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "model_get", Arguments: json.RawMessage(`[1,2]`)})
	if !errors.As(err, &we) || we.Code != jsonrpc.CodeInvalidParams {
		t.Errorf("array arguments: %v", err)
	}
	// A bad field is the tool's error, naming the field, for the model to fix.
	res := call(t, cs, "model_create", map[string]any{"name": "Bad Name"})
	if !res.IsError || !strings.Contains(textOf(res), "(invalid)") || !strings.Contains(textOf(res), "name") {
		t.Errorf("bad name: %v %s", res.IsError, textOf(res))
	}
	res = call(t, cs, "model_get", map[string]any{"id": "x", "colour": "red"})
	if !res.IsError || !strings.Contains(textOf(res), "colour: unknown parameter") {
		t.Errorf("unknown parameter: %s", textOf(res))
	}
	res = call(t, cs, "model_get", map[string]any{"id": "nope"})
	if !res.IsError || !strings.Contains(textOf(res), "(not_found)") {
		t.Errorf("missing model: %s", textOf(res))
	}
	// Units that need containers say so when there are none.
	res = call(t, cs, "service_start", map[string]any{"id": "x"})
	if !res.IsError {
		t.Errorf("service_start without Docker: %s", textOf(res))
	}
}

func TestMCPResourcesAndPrompts(t *testing.T) {
	env := newEnv(t)
	srv := mcp.New(mcp.Options{Env: env})
	cs, notes := client(t, srv)
	ctx := context.Background()
	uris := func() map[string]bool {
		res, err := cs.ListResources(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, r := range res.Resources {
			m[r.URI] = true
		}
		return m
	}
	got := uris()
	for _, u := range []string{"aima://engines/stub", "aima://schemas/service", "aima://log", "aima://skills/choose-engine"} {
		if !got[u] {
			t.Errorf("resources/list lacks %s (%v)", u, got)
		}
	}
	// A file written behind the server's back appears after Changed (the
	// agent's watcher calls it), with a list_changed notification.
	ctxF, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Follow(ctxF)
	if _, err := env.Store.Create(state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "x"}); err != nil {
		t.Fatal(err)
	}
	srv.Changed()
	waitNote(t, notes, "resources")
	if !uris()["aima://models/m1"] {
		t.Error("aima://models/m1 not listed after Changed")
	}
	rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "aima://log"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, "model create: m1") {
		t.Errorf("aima://log: %v %v", rr, err)
	}
	if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "aima://models/nope"}); err == nil {
		t.Error("reading a missing object succeeded")
	}
	// An object not listed yet (no Changed since) is read through its
	// kind's template.
	if _, err := env.Store.Create(state.KindModel, &state.Model{Name: "m2", Source: "ollama", Repo: "second"}); err != nil {
		t.Fatal(err)
	}
	if rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "aima://models/m2"}); err != nil || !strings.Contains(rr.Contents[0].Text, "repo: second") {
		t.Errorf("aima://models/m2 through the template: %v %v", rr, err)
	}
	tmpl, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(tmpl.ResourceTemplates) != len(state.Kinds) {
		t.Errorf("resources/templates/list: %v %v", tmpl, err)
	}
	// Enabled skills are prompts; a disabled one goes.
	pr, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "choose-engine"})
	if err != nil || len(pr.Messages) != 1 || !strings.Contains(pr.Messages[0].Content.(*sdk.TextContent).Text, "#") {
		t.Fatalf("prompts/get choose-engine: %v %v", pr, err)
	}
	if res := call(t, cs, "skill_disable", map[string]any{"name": "choose-engine"}); res.IsError {
		t.Fatal(textOf(res))
	}
	waitNote(t, notes, "prompts")
	list, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Prompts {
		if p.Name == "choose-engine" {
			t.Error("a disabled skill is still a prompt")
		}
	}
}

// TestMCPProgressAndCancel calls a long unit: the client gets progress
// while it runs, and cancelling the call cancels the unit's context.
func TestMCPProgressAndCancel(t *testing.T) {
	reg := unit.NewRegistry()
	started, ended := make(chan struct{}), make(chan error, 1)
	reg.Add(unit.Unit{Name: "service.start", Description: "waits until cancelled", Request: nil,
		Run: func(ctx context.Context, env *unit.Env, p map[string]any) (map[string]any, error) {
			close(started)
			<-ctx.Done()
			ended <- ctx.Err()
			return nil, ctx.Err()
		}})
	cs, notes := client(t, mcp.New(mcp.Options{Env: newEnv(t), Registry: reg, ProgressEvery: 10 * time.Millisecond}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		p := &sdk.CallToolParams{Name: "service_start", Arguments: map[string]any{"id": "x", "wait": true}}
		p.SetProgressToken("t1")
		_, err := cs.CallTool(ctx, p)
		errc <- err
	}()
	<-started
	waitNote(t, notes, "progress: service.start: working")
	waitNote(t, notes, "progress: service.start: working") // and again, periodically
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the unit ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the unit's context was not cancelled")
	}
}

// TestMCPStdioAnswersBeforeEOF: a client that writes a slow call and
// closes its end at once still gets the answer, and the server ends
// then; lines that are not messages are answered and skipped.
func TestMCPStdioAnswersBeforeEOF(t *testing.T) {
	reg := unit.NewRegistry()
	started, release := make(chan struct{}), make(chan struct{})
	reg.Add(unit.Unit{Name: "state.slow", Description: "answers once released", Read: true,
		Run: func(ctx context.Context, env *unit.Env, p map[string]any) (map[string]any, error) {
			close(started)
			<-release
			return map[string]any{"done": true}, nil
		}})
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"state_slow"}}`,
		`{oops`,
		`[]`,
		``,
	}, "\n")
	w := &strings.Builder{} // read once the server has ended
	done := make(chan error, 1)
	go func() {
		done <- mcp.New(mcp.Options{Env: newEnv(t), Registry: reg}).Run(context.Background(), &mcp.Stdio{In: strings.NewReader(in), Out: w})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the server ended (%v) at the end of its input without running call 2:\n%s", err, w)
	case <-time.After(5 * time.Second):
		t.Fatal("call 2 did not start")
	}
	// The input (a strings.Reader) is at its end by now: the server must
	// still be there for the call in flight.
	select {
	case err := <-done:
		t.Fatalf("the server ended (%v) before answering call 2:\n%s", err, w)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not end at the end of its input")
	}
	got := w.String()
	for _, want := range []string{`"id":2,"result":{"content":[{"type":"text","text":"state.slow: ok`, `"code":-32700`, `"code":-32600`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
}

// TestMCPAnswersMatchTheirOutputSchemas: a client that checks structured
// content against a tool's output schema (some do) accepts every answer:
// each read that runs without Docker, and a create, update and delete.
func TestMCPAnswersMatchTheirOutputSchemas(t *testing.T) {
	cs, _ := client(t, mcp.New(mcp.Options{Env: newEnv(t)}))
	ctx := context.Background()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{}
	for _, tl := range tools.Tools {
		if tl.OutputSchema == nil {
			continue
		}
		b, _ := json.Marshal(tl.OutputSchema)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(tl.Name+".json", doc); err != nil {
			t.Fatal(err)
		}
		if schemas[tl.Name], err = c.Compile(tl.Name + ".json"); err != nil {
			t.Fatalf("%s: output schema: %v", tl.Name, err)
		}
	}
	checked := 0
	check := func(name string, args map[string]any, must bool) {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			if must {
				t.Errorf("%s: %v %v", name, err, res)
			}
			return // a read that needs Docker or parameters
		}
		if schemas[name] == nil {
			return
		}
		b, _ := json.Marshal(res.StructuredContent)
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas[name].Validate(v); err != nil {
			t.Errorf("%s answered %s, which its output schema refuses: %v", name, b, err)
		}
		checked++
	}
	check("model_create", map[string]any{"name": "m", "source": "ollama", "repo": "r"}, true)
	check("service_create", map[string]any{"model": "m", "engine": "stub"}, true)
	check("model_update", map[string]any{"name": "m", "tag": "v2"}, true)
	for _, tl := range tools.Tools {
		if tl.Annotations.ReadOnlyHint {
			check(tl.Name, nil, false)
		}
	}
	check("service_delete", map[string]any{"id": "m-stub"}, true)
	check("model_delete", map[string]any{"id": "m"}, true)
	if checked < 15 {
		t.Errorf("only %d answers checked against their output schema", checked)
	}
	if len(schemas) < 20 {
		t.Errorf("only %d tools have an output schema", len(schemas))
	}
}
