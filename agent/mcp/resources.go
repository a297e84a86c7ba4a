package mcp

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/aima-dev/aima/agent/skill"
	"github.com/aima-dev/aima/schemas"
	"github.com/aima-dev/aima/state"
)

// Scheme is the URI scheme of the resources: aima://services/qwen is the
// file services/qwen.yaml, aima://schemas/service the JSON Schema of
// services, aima://log the git log.
const Scheme = "aima://"

// ObjectURI is the resource URI of an object: aima://<kind dir>/<name>.
func ObjectURI(k *state.Kind, name string) string { return Scheme + k.Dir + "/" + name }

// addStatic adds the resources that do not come and go: a template per
// kind (so any object can be read by name, listed or not yet), the
// schemas and the log.
func (s *Server) addStatic() {
	for _, k := range state.Kinds {
		s.sdk.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: Scheme + k.Dir + "/{name}", Name: k.Dir, MIMEType: mimeOf(k),
			Description: fmt.Sprintf("A %s: the file %s (or the built-in of that name)", k.Name, k.Path("{name}"))}, s.readObject)
	}
	names, _ := fs.Glob(schemas.FS, "*.json")
	for _, n := range names {
		kind := strings.TrimSuffix(n, ".json")
		s.sdk.AddResource(&sdk.Resource{URI: Scheme + "schemas/" + kind, Name: "schema " + kind, MIMEType: "application/schema+json",
			Description: fmt.Sprintf("The JSON Schema of the %s files", kind)}, func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			b, err := schemas.FS.ReadFile(n)
			if err != nil {
				return nil, err
			}
			return text(req.Params.URI, "application/schema+json", string(b)), nil
		})
	}
	s.sdk.AddResource(&sdk.Resource{URI: Scheme + "log", Name: "log", MIMEType: "application/json",
		Description: "The last 50 commits of the state directory: who changed what and when (state_log has more)"},
		func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			out, err := s.reg.Call(ctx, s.opts.Env, "state.log", map[string]any{"n": 50})
			if err != nil {
				return nil, err
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				return nil, err
			}
			return text(req.Params.URI, "application/json", string(b)), nil
		})
}

func text(uri, mime, body string) *sdk.ReadResourceResult {
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: mime, Text: body}}}
}

// Refresh brings the resources (one per object, files and built-ins) and
// the prompts (one per enabled skill) in line with the store; the SDK
// tells the connected clients that a list changed. It lists file names
// only (a directory read per kind) and decodes the skills alone.
func (s *Server) Refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	uris := map[string]bool{}
	var firstErr error
	for _, k := range state.Kinds {
		names, err := objectNames(s.opts.Env.Store, k)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		for _, n := range names {
			uri := ObjectURI(k, n)
			uris[uri] = true
			if !s.resources[uri] {
				s.sdk.AddResource(&sdk.Resource{URI: uri, Name: k.Name + " " + n, MIMEType: mimeOf(k),
					Description: fmt.Sprintf("The %s %s: the file %s (or the built-in of that name)", k.Name, n, k.Path(n))}, s.readObject)
			}
		}
	}
	var gone []string
	for uri := range s.resources {
		if !uris[uri] {
			gone = append(gone, uri)
		}
	}
	s.sdk.RemoveResources(gone...)
	s.resources = uris

	prompts := map[string]string{}
	skills, err := s.opts.Env.Store.List(state.KindSkill)
	if err != nil && firstErr == nil {
		firstErr = err
	}
	for _, e := range skills {
		sk, ok := e.Object.(*state.Skill)
		if !ok || !skill.Enabled(sk) || (e.Problem != nil && e.Revision == "") {
			continue
		}
		desc := cmp.Or(sk.Description, "The aima skill "+sk.Name)
		prompts[sk.Name] = desc
		if d, ok := s.prompts[sk.Name]; !ok || d != desc {
			s.sdk.AddPrompt(&sdk.Prompt{Name: sk.Name, Title: sk.Name, Description: desc}, s.getPrompt)
		}
	}
	var off []string
	for name := range s.prompts {
		if _, ok := prompts[name]; !ok {
			off = append(off, name)
		}
	}
	s.sdk.RemovePrompts(off...)
	s.prompts = prompts
	return firstErr
}

// objectNames are the names of the objects of k: its files (by name, not
// read) and the built-ins.
func objectNames(st *state.Store, k *state.Kind) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	des, err := os.ReadDir(filepath.Join(st.Dir, k.Dir))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, de := range des {
		n, ok := strings.CutSuffix(de.Name(), k.Ext)
		if ok && !de.IsDir() && state.ValidName(n) {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, b := range state.Builtins(k) {
		if n := b.Object.ObjectName(); !seen[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func mimeOf(k *state.Kind) string {
	if k.Ext == ".md" {
		return "text/markdown"
	}
	return "application/yaml"
}

// readObject reads aima://<dir>/<name>: the object as its file holds it
// (a built-in as it would be written). An invalid file reads as the last
// committed valid version, with its problems first, as YAML comments.
func (s *Server) readObject(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	dir, name, _ := strings.Cut(strings.TrimPrefix(uri, Scheme), "/")
	var k *state.Kind
	for _, kk := range state.Kinds {
		if kk.Dir == dir {
			k = kk
		}
	}
	if k == nil {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	e, err := s.opts.Env.Store.Get(k, name)
	if err != nil {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	var head string
	if e.Problem != nil {
		for _, p := range e.Problem.Problems {
			head += "# invalid, not in effect: " + p.String() + "\n"
		}
		if e.Object == nil {
			return text(uri, mimeOf(k), head), nil
		}
	}
	b, err := k.Encode(e.Object)
	if err != nil {
		return nil, err
	}
	return text(uri, mimeOf(k), head+string(b)), nil
}

// getPrompt is an enabled skill as a prompt: its Markdown body as the
// user's message.
func (s *Server) getPrompt(ctx context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
	e, err := s.opts.Env.Store.Get(state.KindSkill, req.Params.Name)
	if err != nil {
		return nil, err
	}
	sk, ok := e.Object.(*state.Skill)
	if !ok || !skill.Enabled(sk) {
		return nil, fmt.Errorf("skill %q is disabled (skill_enable turns it on)", req.Params.Name)
	}
	return &sdk.GetPromptResult{Description: sk.Description, Messages: []*sdk.PromptMessage{
		{Role: "user", Content: &sdk.TextContent{Text: sk.Content}},
	}}, nil
}

// Changed asks for a Refresh soon (the agent's watcher calls it on every
// change of a file); it never blocks. A nil server has no clients.
func (s *Server) Changed() {
	if s == nil {
		return
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// followQuiet is how long Follow lets changes gather before it lists the
// state again: a burst of writes (a catalog apply, a script creating a
// hundred objects) is one Refresh, not one per commit.
const followQuiet = 100 * time.Millisecond

// Follow runs a Refresh after Changed (changes within followQuiet of each
// other are one) until ctx ends.
func (s *Server) Follow(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(followQuiet):
		}
		select { // a change during the quiet time is in this Refresh
		case <-s.changed:
		default:
		}
		if err := s.Refresh(); err != nil && s.opts.Log != nil {
			s.opts.Log.Warn("mcp: list the state", "error", err)
		}
	}
}
