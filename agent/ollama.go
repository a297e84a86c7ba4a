package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// An engine that speaks Ollama's API (api: ollama) starts without any
// model: Ollama pulls models on request. aima makes that part of the
// service's readiness: once the server is up, it pulls the service's model
// through Ollama's API (the model's repo and tag, "qwen2.5:7b"), names it
// as the aima model (/api/copy, so the gateway's requests for "qwen" find
// it), and reports running only when /api/tags lists it. Meanwhile the
// status is starting, its reason the pull's progress; a failed pull is
// failed, with Ollama's error, and is tried again after pullRetry.

// pullRetry is how long a failed pull waits before it is tried again.
const pullRetry = 30 * time.Second

// ollamaPull is one pull in progress (or its outcome), per endpoint
// (Syncer.pulls).
type ollamaPull struct {
	mu       sync.Mutex
	model    string
	progress string // "pulling manifest", "41% of 1.9 GB"
	err      error
	done     bool
	ended    time.Time
}

func (p *ollamaPull) state() (progress string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.progress, p.err
}

// retry reports whether the pull is over and another is due: it
// succeeded (and the model went missing since: pull again), or it failed
// pullRetry ago.
func (p *ollamaPull) retry() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done && (p.err == nil || time.Since(p.ended) > pullRetry)
}

// ollamaName is the name Ollama knows a model by: repo:tag, or the aima
// name when the model has no repo.
func ollamaName(repo, tag, name string) string {
	if repo == "" {
		return name
	}
	if tag != "" && !strings.Contains(repo, ":") {
		return repo + ":" + tag
	}
	return repo
}

func withTag(name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return name + ":latest"
}

// ollamaReady is the probe of an Ollama engine whose server answers: running
// when the model is listed under its aima name; else starting while it is
// pulled (the reason says how far), or failed when the pull failed.
func (s *Syncer) ollamaReady(ctx context.Context, w Wanted, st Status) Status {
	tags, err := ollamaTags(ctx, st.Endpoint)
	if err != nil {
		st.Status, st.Health = StatusStarting, "failing: /api/tags: "+err.Error()
		return st
	}
	if tags[withTag(w.Model)] {
		return st
	}
	if tags[withTag(w.Ollama)] {
		// Pulled under its Ollama name: give it the aima name too.
		if err := ollamaPost(ctx, st.Endpoint+"/api/copy", map[string]string{"source": w.Ollama, "destination": w.Model}); err != nil {
			st.Status, st.Reason = StatusStarting, fmt.Sprintf("naming %s as %s: %v", w.Ollama, w.Model, err)
			return st
		}
		return st
	}
	s.mu.Lock()
	if s.pulls == nil {
		s.pulls = map[string]*ollamaPull{}
	}
	p := s.pulls[st.Endpoint]
	if p == nil || p.model != w.Ollama || p.retry() {
		p = &ollamaPull{model: w.Ollama, progress: "starting"}
		s.pulls[st.Endpoint] = p
		go p.run(st.Endpoint)
	}
	s.mu.Unlock()
	progress, perr := p.state()
	if perr != nil {
		st.Status, st.Reason = StatusFailed, fmt.Sprintf("pulling %s: %v (tried again within %s)", w.Ollama, perr, pullRetry)
		return st
	}
	st.Status, st.Reason = StatusStarting, fmt.Sprintf("pulling %s: %s", w.Ollama, progress)
	return st
}

// run pulls p.model through the Ollama server at endpoint, following its
// progress lines. It is bounded by a generous timeout, not by the probe
// that started it: a pull of tens of gigabytes outlives any one status.
func (p *ollamaPull) run(endpoint string) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
	defer cancel()
	err := ollamaStream(ctx, endpoint+"/api/pull", map[string]any{"model": p.model, "stream": true}, func(line map[string]any) error {
		if e, _ := line["error"].(string); e != "" {
			return fmt.Errorf("%s", e)
		}
		msg, _ := line["status"].(string)
		total, _ := line["total"].(float64)
		done, _ := line["completed"].(float64)
		if total > 0 {
			msg = fmt.Sprintf("%.0f%% of %s", done*100/total, humanBytes(total))
		}
		p.mu.Lock()
		p.progress = msg
		p.mu.Unlock()
		return nil
	})
	p.mu.Lock()
	p.err, p.done, p.ended = err, true, time.Now()
	p.mu.Unlock()
}

func humanBytes(b float64) string {
	for _, u := range []string{"B", "kB", "MB", "GB", "TB"} {
		if b < 1000 || u == "TB" {
			return fmt.Sprintf("%.1f %s", b, u)
		}
		b /= 1000
	}
	return ""
}

var ollamaClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// ollamaTags is the set of models (name:tag) the server lists.
func ollamaTags(ctx context.Context, endpoint string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/api/tags", nil)
	resp, err := ollamaClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	var out struct {
		Models []struct{ Name, Model string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	tags := map[string]bool{}
	for _, m := range out.Models {
		tags[withTag(m.Name)], tags[withTag(m.Model)] = true, true
	}
	return tags, nil
}

// postJSON posts body as JSON to an Ollama server.
func postJSON(ctx context.Context, url string, body any) (*http.Response, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return ollamaClient.Do(req)
}

// ollamaPost posts a JSON body and wants a 2xx answer.
func ollamaPost(ctx context.Context, url string, body any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := postJSON(ctx, url, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("answered %s: %s", resp.Status, e.Error)
	}
	return nil
}

// ollamaStream posts body and hands each NDJSON line of the answer to
// line; an error status is Ollama's error.
func ollamaStream(ctx context.Context, url string, body any, line func(map[string]any) error) error {
	resp, err := postJSON(ctx, url, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if err := line(m); err != nil {
			return err
		}
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return sc.Err()
}
