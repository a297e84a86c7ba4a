package unit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
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
	return &unit.Env{Store: st, Detect: func(context.Context) device.Device {
		return device.Device{OS: "linux", GPU: device.NoGPU, GPUs: []device.GPU{}}
	}}
}

func TestRegistry(t *testing.T) {
	for _, name := range []string{"model.list", "model.get", "model.create", "service.list", "service.start", "service.stop", "service.status",
		"catalog.match", "catalog.apply", "skill.search", "inference.chat", "device.detect", "pipeline.run", "pipeline.runs", "pipeline.cancel"} {
		if !unit.Default.Has(name) {
			t.Errorf("unit %s is not registered", name)
		}
	}
	env := newEnv(t)
	if _, err := unit.Default.Call(context.Background(), env, "model.nope", nil); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("unknown unit: %v", err)
	}
	// A unit that needs containers says so when there are none.
	if _, err := unit.Default.Call(context.Background(), env, "service.start", map[string]any{"name": "x"}); err == nil || !strings.Contains(err.Error(), "container runtime") {
		t.Errorf("service.start without a runtime: %v", err)
	}
	out, err := unit.Default.Call(context.Background(), env, "model.create", map[string]any{"name": "tiny", "source": "ollama", "repo": "tinyllama"})
	if err != nil || out["id"] != "tiny" {
		t.Fatalf("model.create: %v %v", out, err)
	}
	out, err = unit.Default.Call(context.Background(), env, "device.detect", nil)
	if err != nil || out["gpu"] != device.NoGPU || out["has_gpu"] != false {
		t.Errorf("device.detect: %v %v", out, err)
	}
}

// TestVerbs: the API's catalog and skill verbs are the units, answering
// lists as {"items": [...], "total": N}.
func TestVerbs(t *testing.T) {
	env := newEnv(t)
	r := &state.Recipe{Name: "tiny-cpu", EngineType: "llamacpp", Hardware: &state.Hardware{GPUVendor: "none"},
		Models: []state.RecipeModel{{Name: "tinyllama", Source: "ollama", Repo: "tinyllama"}}}
	big := &state.Recipe{Name: "big", EngineType: "vllm", Hardware: &state.Hardware{GPUVendor: "NVIDIA", MinVRAMGB: 40}}
	for _, o := range []*state.Recipe{r, big} {
		if _, err := env.Store.Create(state.KindCatalog, o); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(api.Options{Store: env.Store, Verbs: unit.Verbs(env, unit.Default)}).Handler())
	defer srv.Close()
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	names := func(m map[string]any) []string {
		var out []string
		items, _ := m["items"].([]any)
		for _, it := range items {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return out
	}
	// Detected: no GPU. (The built-in knowledge base is matched too.)
	has := func(m map[string]any, name string) bool { return slices.Contains(names(m), name) }
	code, m := do("GET", "/api/catalog/match", "")
	if code != 200 || !has(m, "tiny-cpu") || has(m, "big") {
		t.Errorf("match: %d %v", code, names(m))
	}
	// Given: a big NVIDIA GPU (as a POST body).
	code, m = do("POST", "/api/catalog/match", `{"gpu_vendor": "NVIDIA", "vram": 80}`)
	if code != 200 || names(m)[0] != "big" || !has(m, "tiny-cpu") {
		t.Errorf("match with a body: %d %v", code, names(m))
	}
	code, m = do("POST", "/api/catalog/apply", `{"recipe": "tiny-cpu"}`)
	if code != 200 || m["service"] != "tiny-cpu" || !env.Store.Exists(state.KindService, "tiny-cpu") {
		t.Errorf("apply: %d %v", code, m)
	}
	if code, _ := do("POST", "/api/catalog/apply", `{"recipe": "tiny-cpu"}`); code != http.StatusConflict {
		t.Errorf("second apply: %d, want 409", code)
	}
	code, m = do("GET", "/api/skill/search?q=engine", "")
	if code != 200 || len(names(m)) == 0 || names(m)[0] != "choose-engine" {
		t.Errorf("skill search: %d %v", code, m)
	}
	if code, _ := do("POST", "/api/skill/disable", `{"name": "choose-engine"}`); code != 200 {
		t.Errorf("skill disable: %d", code)
	}
	if _, m := do("GET", "/api/skill/search?q=choose-engine", ""); strings.Contains(strings.Join(names(m), ","), "choose-engine") {
		t.Errorf("a disabled skill was found: %v", names(m))
	}
	if code, m := do("GET", "/api/unit/list", ""); code != 200 || m["total"].(float64) < 15 {
		t.Errorf("unit list: %d %v", code, m["total"])
	}
	if code, m := do("POST", "/api/unit/call", `{"unit": "model.list"}`); code != 200 || m["total"] != 1.0 {
		t.Errorf("unit call: %d %v", code, m)
	}
}
