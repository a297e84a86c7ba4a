package unit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aima-dev/aima/agent/catalog"
	"github.com/aima-dev/aima/agent/model"
	"github.com/aima-dev/aima/agent/skill"
	"github.com/aima-dev/aima/state"
)

// addBuiltins registers the built-in units.
func addBuiltins(r *Registry) {
	addCRUD(r)
	addLive(r)
	addAgent(r)
	addGit(r)
	addFleet(r)
	addRun(r)
	r.Add(Unit{Name: "model.pull", Description: "Download a model's weights (http, huggingface; checks local) and set its path (one commit)",
		Params: map[string]string{"name": "the model", "to": "directory for the weights, under .aima/.local/models/ (a relative one is taken from there; default <name>)"}, Run: pullModel})
	r.Add(Unit{Name: "catalog.match", Read: true, Description: "Rank the recipes for this machine's hardware (or the given one)",
		Params: map[string]string{"gpu_vendor": "GPU vendor (default: detected)", "gpu_model": "GPU model", "gpu_arch": "GPU architecture", "vram": "GPU memory in GB", "os": "operating system"}, Run: catalogMatch})
	r.Add(Unit{Name: "catalog.apply", Description: "Write a recipe's models and a service in one commit; the sync loop deploys them",
		Params: map[string]string{"recipe": "the recipe", "service": "service name (default: the recipe's)"}, Run: catalogApply})
	r.Add(Unit{Name: "skill.search", Read: true, Description: "Search the enabled skills (name and keyword hits rank first)", Params: map[string]string{"query": "search terms"}, Run: skillSearch})
	for _, on := range []bool{true, false} {
		verb := "enable"
		if !on {
			verb = "disable"
		}
		r.Add(Unit{Name: "skill." + verb, Description: verb + " a skill (a file edit; built-ins get an override file)", Params: map[string]string{"name": "the skill"}, Run: skillEnable(on)})
	}
	r.Add(Unit{Name: "inference.chat", Description: "Send a chat message to a running service of a model",
		Params: map[string]string{"model": "the model", "message": "the user message", "messages": "or the whole message list",
			"max_tokens": "at most this many tokens", "temperature": "sampling temperature", "top_p": "nucleus sampling", "stop": "stop sequences", "seed": "sampling seed",
			"stream": "stream the answer from the engine (the caller's WithStream receives each piece; the answer is the whole text)"}, Run: inferenceChat})
	r.Add(Unit{Name: "device.detect", Read: true, Description: "GPUs, CPU, memory and OS of this machine", Run: deviceDetect})
	r.Add(Unit{Name: "pipeline.run", Description: "Run a pipeline (a DAG of units)",
		Params: map[string]string{"name": "the pipeline", "input": "run input, referenced as ${input.x}", "wait": "wait until the run ends"}, Run: pipelineRun})
	r.Add(Unit{Name: "pipeline.runs", Read: true, Description: "List a pipeline's runs, newest first", Params: map[string]string{"name": "the pipeline"}, Run: pipelineRuns})
	r.Add(Unit{Name: "pipeline.cancel", Description: "Cancel a run", Params: map[string]string{"run": "the run id"}, Run: pipelineCancel})
}

func pullModel(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	name := String(p, "name", "id")
	if name == "" {
		return nil, state.FieldError("name", "required: the model")
	}
	res, err := model.Pull(ctx, env.Store, name, model.Options{Dir: String(p, "to"), Bytes: progressOf(ctx)})
	if err != nil {
		return nil, err
	}
	if env.Kick != nil {
		env.Kick()
	}
	return map[string]any{"id": name, "name": name, "path": res.Path, "files": res.Files, "downloaded": res.Downloaded, "bytes": res.Bytes}, nil
}

// merge copies the keys of src that dst does not have.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if _, taken := dst[k]; !taken {
			dst[k] = v
		}
	}
}

// catalogMatch ranks the recipes. Without GPU parameters the detected GPU
// counts; any GPU parameter replaces the detected GPU altogether (a
// detected model must not be mixed with a wished-for vendor).
func catalogMatch(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	vram, vramSet, err := Float(p, "vram", "vram_gb")
	if err != nil {
		return nil, err
	}
	vendor, model, arch, osName := String(p, "gpu_vendor"), String(p, "gpu_model"), String(p, "gpu_arch"), String(p, "os")
	var host catalog.Host
	source := "flags"
	if vendor == "" && model == "" && arch == "" && !vramSet {
		host = catalog.HostOf(env.detect(ctx))
		source = "detected"
	} else {
		host = catalog.Host{GPUVendor: vendor, GPUModel: model, GPUArch: arch, VRAMGB: vram}
		if host.GPUVendor == "" && (model != "" || vramSet) {
			host.GPUVendor = "unknown"
		}
		if host.GPUVendor == "" {
			host.GPUVendor = "none"
		}
		if host.GPUArch == "" {
			host.GPUArch = catalog.Arch(model)
		}
	}
	if osName != "" {
		host.OS = osName
	} else if host.OS == "" {
		host.OS = env.detect(ctx).OS
	}
	entries, err := env.Store.List(state.KindCatalog)
	if err != nil {
		return nil, err
	}
	var recipes []*state.Recipe
	for _, e := range entries {
		if r, ok := e.Object.(*state.Recipe); ok && (e.Problem == nil || e.Revision != "") {
			recipes = append(recipes, r)
		}
	}
	matches, excluded := catalog.Rank(recipes, host)
	items := []map[string]any{}
	for _, m := range matches {
		items = append(items, matchItem(m))
	}
	ex := []map[string]any{}
	for _, m := range excluded {
		ex = append(ex, matchItem(m))
	}
	out := List(items)
	out["host"] = host
	out["host_source"] = source
	out["excluded"] = ex
	return out, nil
}

func matchItem(m catalog.Match) map[string]any {
	r := m.Recipe
	return map[string]any{"id": r.Name, "name": r.Name, "score": m.Score, "reasons": m.Reasons, "description": r.Description,
		"engine_type": r.EngineType, "verified": r.Verified, "hardware": r.Hardware}
}

func catalogApply(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	recipe := String(p, "recipe", "id")
	service := String(p, "service")
	if recipe == "" {
		// {"name": recipe} as every other /api/<domain>/<verb> accepts it.
		recipe = String(p, "name")
	} else if service == "" {
		service = String(p, "name")
	}
	if recipe == "" {
		return nil, &state.InvalidError{Problems: []state.Problem{{Field: "/recipe", Message: "recipe is required"}}}
	}
	a, err := catalog.Apply(env.Store, recipe, service, func(m *state.Model, svc *state.Service, engine string) error {
		if err := checkFit(ctx, env, m, svc, engine); err != nil {
			return fmt.Errorf("recipe %q: %w", recipe, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	env.kick()
	return map[string]any{"id": recipe, "name": recipe, "recipe": recipe, "models": a.Models, "service": a.Service, "engine": a.Engine}, nil
}

func skillSearch(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	hits, err := skill.Search(env.Store, String(p, "query", "q"))
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, h := range hits {
		items = append(items, map[string]any{"id": h.Skill.Name, "name": h.Skill.Name, "score": h.Score, "matched": h.Matched,
			"description": h.Skill.Description, "category": h.Skill.Category, "keywords": h.Skill.Keywords, "priority": h.Skill.Priority, "source": h.Entry.Source})
	}
	return List(items), nil
}

func skillEnable(on bool) func(context.Context, *Env, map[string]any) (map[string]any, error) {
	return func(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
		name, err := Required(p, "name", "id")
		if err != nil {
			return nil, err
		}
		e, err := skill.SetEnabled(env.Store, name, on)
		if err != nil {
			return nil, err
		}
		out := e.Map()
		out["enabled"] = on
		return out, nil
	}
}

func inferenceChat(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	model, err := Required(p, "model")
	if err != nil {
		return nil, err
	}
	messages, ok := p["messages"].([]any)
	if !ok {
		msg, err := Required(p, "message")
		if err != nil {
			return nil, err
		}
		messages = []any{map[string]any{"role": "user", "content": msg}}
	}
	svc, err := env.services()
	if err != nil {
		return nil, err
	}
	endpoint, err := svc.Route(ctx, model)
	if err != nil {
		return nil, err
	}
	req := map[string]any{"model": model, "messages": messages}
	// Sampling parameters pass through to the engine as given.
	for _, k := range []string{"max_tokens", "temperature", "top_p", "stop", "seed"} {
		if v, ok := p[k]; ok && v != nil && v != "" {
			req[k] = v
		}
	}
	for _, k := range []string{"max_tokens", "seed"} {
		if v, ok := req[k].(string); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, state.FieldError(k, "%q is not a whole number", v)
			}
			req[k] = n
		}
	}
	for _, k := range []string{"temperature", "top_p"} {
		if v, ok := req[k].(string); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, state.FieldError(k, "%q is not a number", v)
			}
			req[k] = f
		}
	}
	stream := Bool(p, "stream")
	if stream {
		req["stream"] = true
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if stream && resp.StatusCode < 300 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		content, err := readChatStream(resp.Body, streamOf(ctx))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", endpoint, err)
		}
		return map[string]any{"model": model, "endpoint": endpoint, "content": content}, nil
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Error any `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s answered %s: %w", endpoint, resp.Status, err)
	}
	if resp.StatusCode >= 300 || len(out.Choices) == 0 {
		return nil, fmt.Errorf("%s answered %s: %v", endpoint, resp.Status, out.Error)
	}
	return map[string]any{"model": model, "endpoint": endpoint, "content": out.Choices[0].Message.Content}, nil
}

type streamKey struct{}

// WithStream returns ctx carrying f, which inference.chat with stream set
// calls with each piece of the answer as the engine sends it (the CLI's
// --stream prints them). Without it the pieces are only joined.
func WithStream(ctx context.Context, f func(piece string)) context.Context {
	return context.WithValue(ctx, streamKey{}, f)
}

func streamOf(ctx context.Context) func(string) {
	if f, ok := ctx.Value(streamKey{}).(func(string)); ok {
		return f
	}
	return func(string) {}
}

// ReadEvents reads an OpenAI-style event stream — "data: {chunk}" lines,
// ending with "data: [DONE]" — handing each payload to fn, and reports
// whether the stream ended with [DONE].
func ReadEvents(r io.Reader, fn func(data []byte) error) (done bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		data = strings.TrimSpace(data)
		if !ok || data == "" {
			continue
		}
		if data == "[DONE]" {
			return true, nil
		}
		if err := fn([]byte(data)); err != nil {
			return false, err
		}
	}
	return false, sc.Err()
}

// readChatStream reads an OpenAI chat completion event stream, handing
// each content piece to piece, and returns the whole text.
func readChatStream(r io.Reader, piece func(string)) (string, error) {
	var all strings.Builder
	done, err := ReadEvents(r, func(data []byte) error {
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error any `json:"error"`
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			return fmt.Errorf("a streamed chunk is not JSON: %v", err)
		}
		if chunk.Error != nil {
			return fmt.Errorf("the engine failed mid-answer: %v", chunk.Error)
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content != "" {
				all.WriteString(c.Delta.Content)
				piece(c.Delta.Content)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return "", err
	case !done:
		return "", fmt.Errorf("the stream ended without [DONE]")
	}
	return all.String(), nil
}

func deviceDetect(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
	d := env.detect(ctx)
	m := map[string]any{}
	b, _ := json.Marshal(d)
	_ = json.Unmarshal(b, &m)
	m["has_gpu"] = d.HasGPU()
	return m, nil
}

func pipelines(env *Env) (Pipelines, error) {
	if env.Pipelines == nil {
		return nil, fmt.Errorf("%w: no pipeline runner is configured", state.ErrInvalid)
	}
	return env.Pipelines, nil
}

func pipelineRun(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	name, err := Required(p, "name", "id", "pipeline")
	if err != nil {
		return nil, err
	}
	input, err := Map(p, "input")
	if err != nil {
		return nil, err
	}
	pl, err := pipelines(env)
	if err != nil {
		return nil, err
	}
	return pl.Run(ctx, name, input, Bool(p, "wait"))
}

func pipelineRuns(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	pl, err := pipelines(env)
	if err != nil {
		return nil, err
	}
	runs, err := pl.Runs(String(p, "name", "id", "pipeline"))
	if err != nil {
		return nil, err
	}
	return List(runs), nil
}

func pipelineCancel(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
	id, err := Required(p, "run", "id")
	if err != nil {
		return nil, err
	}
	pl, err := pipelines(env)
	if err != nil {
		return nil, err
	}
	return pl.Cancel(id)
}
