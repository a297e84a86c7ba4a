package agent_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/agent/plan"
	"github.com/aima-dev/aima/state"
)

var specHash = regexp.MustCompile(`"aima.spec-hash": "v1-[0-9a-f]+"`)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// TestGoldenEngineSpecs renders a service of every built-in engine on an
// NVIDIA host (2 GPUs), an AMD host (2 GPUs) and a CPU-only host, and
// compares the Docker create request — what `aima service render` prints
// and Create sends — with testdata/golden/ENGINE-HARDWARE.json (a host the
// engine cannot run on: the reason). They show vLLM and SGLang with
// ipc: host, the Hugging Face cache volume, HF_TOKEN passed (the policy
// allows it), tensor parallelism over the service's GPUs and the config
// settings as arguments; llama.cpp and Ollama with their GPU images,
// AMD through /dev/kfd, /dev/dri and the video group.
// `go test ./agent -run TestGoldenEngineSpecs -update` rewrites them.
func TestGoldenEngineSpecs(t *testing.T) {
	e := newFakeEnv(t)
	writePolicy(t, e.st, "env: [HF_TOKEN]\n")
	weights := filepath.Join(e.st.Dir, ".local", "models", "qwen-gguf", "qwen2.5-7b-instruct-q4_k_m.gguf")
	if err := os.MkdirAll(filepath.Dir(weights), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(weights, []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	addModel(t, e.st, &state.Model{Name: "qwen", Source: "huggingface", Repo: "Qwen/Qwen2.5-7B-Instruct"})
	addModel(t, e.st, &state.Model{Name: "qwen-gguf", Source: "local", Path: weights})
	addModel(t, e.st, &state.Model{Name: "qwen-ollama", Source: "ollama", Repo: "qwen2.5:7b"})
	services := []struct {
		engine, model string
		config        map[string]any
	}{
		{"vllm", "qwen", map[string]any{"gpu_memory_utilization": 0.85, "max_model_len": 8192}},
		{"sglang", "qwen", map[string]any{"gpu_memory_utilization": 0.8, "max_model_len": 8192}},
		{"llamacpp", "qwen-gguf", map[string]any{"ctx_size": 8192, "n_gpu_layers": 999}},
		{"ollama", "qwen-ollama", map[string]any{"num_ctx": 8192}},
	}
	for i, s := range services {
		svc := &state.Service{Name: s.engine, Model: s.model, Engine: s.engine, Port: 18000 + i, Config: s.config}
		if _, err := e.st.Create(state.KindService, svc); err != nil {
			t.Fatalf("create %s: %v", s.engine, err)
		}
	}
	env := func(name string) (string, bool) {
		if name == "HF_TOKEN" {
			return "hf_test_token", true
		}
		return "", false
	}
	hosts := map[string]agent.Host{
		"nvidia": {GPUs: 2, Env: env},
		"amd":    {AMDGPUs: 2, Env: env},
		"cpu":    {Env: env},
	}
	for hw, host := range hosts {
		wanted, err := agent.Render(e.st, host, "rev")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wanted {
			var got []byte
			if w.Err != nil {
				got = []byte(w.Err.Error() + "\n")
			} else {
				spec := w.Desired.Spec
				spec.Labels = plan.Labels(*w.Desired, e.instance)
				cfg, err := docker.Render(spec)
				if err != nil {
					t.Fatal(err)
				}
				got, _ = json.MarshalIndent(cfg, "", "  ")
				got = append(got, '\n')
			}
			// The temporary directory and instance vary, and so does the
			// hash of a spec holding them.
			got = []byte(strings.NewReplacer(e.st.Dir, "$STATE", e.instance, "$INSTANCE").Replace(string(got)))
			got = specHash.ReplaceAll(got, []byte(`"aima.spec-hash": "v1-$$HASH"`))
			path := filepath.Join("testdata", "golden", w.Object.Name+"-"+hw+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./agent -run TestGoldenEngineSpecs -update writes it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s on %s differs from %s:\n%s", w.Object.Name, hw, path, got)
			}
		}
	}
}
