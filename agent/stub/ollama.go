package stub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// The stub also speaks enough of Ollama's API (github.com/ollama/ollama,
// docs/api.md) on its one port for an engine file with image aima-stub
// and api: ollama to be an Ollama engine in tests: models are pulled
// (/api/pull, with progress), listed (/api/tags), copied to another name
// (/api/copy) and answered (/api/chat, /api/generate, and OpenAI's /v1
// for pulled models); a model not pulled is "not found, try pulling it
// first", as Ollama says.

// EnvPullStep is how long each of the stub's pull progress steps takes (a
// Go duration; default 50ms): tests that watch a pull's progress slow it.
const EnvPullStep = "AIMA_STUB_PULL_STEP"

// pullSteps is how many progress lines a pull reports.
const pullSteps = 5

// pulledModels are the models pulled into this stub, by full name.
type pulledModels struct {
	mu    sync.Mutex
	names map[string]bool
}

// fullName is an Ollama model name with its tag: "tinyllama" is
// "tinyllama:latest".
func fullName(name string) string {
	if name == "" || strings.Contains(name, ":") {
		return name
	}
	return name + ":latest"
}

func (p *pulledModels) has(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[fullName(name)]
}

func (p *pulledModels) add(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.names == nil {
		p.names = map[string]bool{}
	}
	p.names[fullName(name)] = true
}

func (p *pulledModels) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.names))
	for n := range p.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// serves is the model a request for name is answered as: the stub's own
// model (for "" or its name), or a pulled one; ok is false for any other.
func (s *server) serves(name string) (string, bool) {
	if name == "" || name == s.model {
		return s.model, true
	}
	if s.pulled.has(name) {
		return name, true
	}
	return "", false
}

// notFound is Ollama's answer for a model that is not there.
func notFound(w http.ResponseWriter, name string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("model %q not found, try pulling it first", name)})
}

func (s *server) ollamaVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": "0.6.8-aima-stub"})
}

func (s *server) ollamaTags(w http.ResponseWriter, r *http.Request) {
	models := []map[string]any{}
	for _, n := range s.pulled.list() {
		models = append(models, map[string]any{"name": n, "model": n, "size": 1 << 20, "digest": digest(n), "modified_at": time.Now().UTC().Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func digest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ollamaPull "downloads" a model in pullSteps steps, streaming Ollama's
// progress lines (NDJSON) unless stream is false. A name starting with
// "missing" does not exist in the registry.
func (s *server) ollamaPull(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model, Name string
		Stream      *bool
	}
	if !decode(w, r, &req) {
		return
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "model is required"})
		return
	}
	if strings.HasPrefix(name, "missing") {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "pull model manifest: file does not exist"})
		return
	}
	step := 50 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv(EnvPullStep)); err == nil {
		step = d
	}
	stream := req.Stream == nil || *req.Stream
	w.Header().Set("Content-Type", "application/x-ndjson")
	rc := http.NewResponseController(w)
	line := func(v map[string]any) {
		if stream {
			b, _ := json.Marshal(v)
			w.Write(append(b, '\n'))
			rc.Flush()
		}
	}
	line(map[string]any{"status": "pulling manifest"})
	const total = 1 << 20
	for i := 1; i <= pullSteps; i++ {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(step):
		}
		line(map[string]any{"status": "pulling " + digest(name)[7:19], "digest": digest(name), "total": total, "completed": total * i / pullSteps})
	}
	line(map[string]any{"status": "verifying sha256 digest"})
	line(map[string]any{"status": "writing manifest"})
	s.pulled.add(name)
	if !stream {
		writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
		return
	}
	line(map[string]any{"status": "success"})
}

func (s *server) ollamaCopy(w http.ResponseWriter, r *http.Request) {
	var req struct{ Source, Destination string }
	if !decode(w, r, &req) {
		return
	}
	if !s.pulled.has(req.Source) {
		notFound(w, req.Source)
		return
	}
	s.pulled.add(req.Destination)
	w.WriteHeader(http.StatusOK)
}

// ollamaChat answers /api/chat and /api/generate: the stub's answer, as
// one object or (the default) a stream of NDJSON pieces ending in one with
// done: true.
func (s *server) ollamaChat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model    string
		Prompt   string
		Messages []struct{ Role, Content string }
		Stream   *bool
	}
	if !decode(w, r, &req) {
		return
	}
	model, ok := s.serves(req.Model)
	if !ok || req.Model == "" {
		notFound(w, req.Model)
		return
	}
	chat := r.URL.Path == "/api/chat"
	last := req.Prompt
	for _, m := range req.Messages {
		if m.Role == "user" {
			last = m.Content
		}
	}
	out := pieces(Answer(model, last))
	object := func(text string, done bool) map[string]any {
		o := map[string]any{"model": req.Model, "created_at": time.Now().UTC().Format(time.RFC3339Nano), "done": done}
		if chat {
			o["message"] = map[string]string{"role": "assistant", "content": text}
		} else {
			o["response"] = text
		}
		if done {
			o["done_reason"] = "stop"
			o["prompt_eval_count"] = len(pieces(last))
			o["eval_count"] = len(out)
		}
		return o
	}
	if req.Stream != nil && !*req.Stream {
		writeJSON(w, http.StatusOK, object(strings.Join(out, ""), true))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	rc := http.NewResponseController(w)
	for _, p := range out {
		b, _ := json.Marshal(object(p, false))
		w.Write(append(b, '\n'))
		rc.Flush()
	}
	b, _ := json.Marshal(object("", true))
	w.Write(append(b, '\n'))
}
