package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/catalog"
	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/state"
)

func recipes() []*state.Recipe {
	return []*state.Recipe{
		{Name: "qwen-4090", EngineType: "vllm", Verified: true, Hardware: &state.Hardware{GPUVendor: "NVIDIA", GPUModel: "RTX 4090", GPUArch: "ada", MinVRAMGB: 20, MaxVRAMGB: 24, OS: "linux"}},
		{Name: "qwen-any-nvidia", EngineType: "vllm", Hardware: &state.Hardware{GPUVendor: "nvidia", MinVRAMGB: 16}},
		{Name: "llama-70b", EngineType: "vllm", Hardware: &state.Hardware{GPUVendor: "NVIDIA", MinVRAMGB: 80}},
		{Name: "mi300", EngineType: "vllm", Hardware: &state.Hardware{GPUVendor: "AMD", GPUArch: "cdna3"}},
		{Name: "tiny-cpu", EngineType: "llamacpp", Hardware: &state.Hardware{GPUVendor: "none", OS: "linux"}},
		{Name: "mac-only", EngineType: "llamacpp", Hardware: &state.Hardware{OS: "darwin"}},
		{Name: "anything", EngineType: "stub"},
	}
}

func ranked(ms []catalog.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Recipe.Name)
	}
	return out
}

func TestRank(t *testing.T) {
	for _, tc := range []struct {
		name          string
		host          catalog.Host
		want, without []string
	}{
		{
			name: "RTX 4090 with 24 GB",
			host: catalog.HostOf(device.Device{OS: "linux", GPUs: []device.GPU{{Vendor: "NVIDIA", Name: "NVIDIA GeForce RTX 4090", MemoryTotalMB: 24564}}}),
			// Exact vendor+model+arch+VRAM+OS first; vendor-only next; the rest have no requirement or fit any machine.
			want:    []string{"qwen-4090", "qwen-any-nvidia", "tiny-cpu", "anything"},
			without: []string{"llama-70b", "mac-only", "mi300"},
		},
		{
			name:    "no GPU",
			host:    catalog.HostOf(device.Device{OS: "linux"}),
			want:    []string{"tiny-cpu", "anything"},
			without: []string{"llama-70b", "mac-only", "mi300", "qwen-4090", "qwen-any-nvidia"},
		},
		{
			name: "an RTX 3090 given by flags",
			host: catalog.Host{GPUVendor: "NVIDIA", GPUModel: "RTX 3090", GPUArch: catalog.Arch("RTX 3090"), VRAMGB: 24, OS: "linux"},
			// Another model and architecture cost the 4090 recipe points,
			// but its VRAM range, OS and verification still rank it first.
			want:    []string{"qwen-4090", "qwen-any-nvidia", "tiny-cpu", "anything"},
			without: []string{"llama-70b", "mac-only", "mi300"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, ex := catalog.Rank(recipes(), tc.host)
			if diff := cmp.Diff(tc.want, ranked(ms)); diff != "" {
				t.Errorf("ranking (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.without, ranked(ex)); diff != "" {
				t.Errorf("excluded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScoreReasons(t *testing.T) {
	h := catalog.Host{GPUVendor: "NVIDIA", GPUModel: "NVIDIA GeForce RTX 4090", GPUArch: "ada", VRAMGB: 24, OS: "linux"}
	m := catalog.Score(recipes()[0], h)
	want := []string{
		"GPU vendor NVIDIA matches",
		"GPU model RTX 4090 matches",
		"GPU architecture ada matches",
		"24 GB of GPU memory is at least the 20 GB it needs",
		"sized for GPUs up to 24 GB",
		"OS linux matches",
		"verified on its hardware",
	}
	if diff := cmp.Diff(want, m.Reasons); diff != "" || m.Score != 90 || m.Excluded {
		t.Errorf("score %d excluded %v, reasons (-want +got):\n%s", m.Score, m.Excluded, diff)
	}
	// An excluded recipe says only why it does not fit.
	m = catalog.Score(recipes()[2], h)
	if diff := cmp.Diff([]string{"needs at least 80 GB of GPU memory; this machine has 24"}, m.Reasons); diff != "" || !m.Excluded {
		t.Errorf("excluded %v, reasons (-want +got):\n%s", m.Excluded, diff)
	}
}

func TestArch(t *testing.T) {
	for model, want := range map[string]string{
		"NVIDIA GeForce RTX 4090": "ada", "NVIDIA H100 80GB HBM3": "hopper", "NVIDIA A100-SXM4-40GB": "ampere",
		"NVIDIA A10": "ampere", "NVIDIA L4": "ada", "NVIDIA L40S": "ada", "AMD Instinct MI300X": "cdna3",
		"Radeon RX 7900 XTX": "rdna3", "Tesla T4": "turing", "Some New GPU": "",
	} {
		if got := catalog.Arch(model); got != want {
			t.Errorf("Arch(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestApply(t *testing.T) {
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	r := &state.Recipe{Name: "qwen-vllm", EngineType: "vllm",
		Models: []state.RecipeModel{{Name: "qwen2-7b", Source: "huggingface", Repo: "Qwen/Qwen2.5-7B-Instruct"}, {Name: "qwen-draft", Source: "huggingface", Repo: "Qwen/Qwen2.5-0.5B"}},
		Config: map[string]any{"args": []any{"--max-model-len", 8192}, "env": map[string]any{"VLLM_LOGGING_LEVEL": "DEBUG"}, "port": 8123, "gpu_memory_utilization": 0.85}}
	if _, err := st.Create(state.KindCatalog, r); err != nil {
		t.Fatal(err)
	}
	rp, _ := st.Repo()
	before, _ := rp.Log("", 0)

	a, err := catalog.Apply(st, "qwen-vllm", "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.Applied{Models: []string{"qwen2-7b", "qwen-draft"}, Service: "chat", Engine: "vllm"}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	after, _ := rp.Log("", 0)
	if len(after) != len(before)+1 {
		t.Fatalf("%d commits, want one more than %d", len(after), len(before))
	}
	c := after[0]
	if diff := cmp.Diff([]string{"models/qwen-draft.yaml", "models/qwen2-7b.yaml", "services/chat.yaml"}, c.Files); diff != "" || c.Message != "catalog apply: qwen-vllm" {
		t.Errorf("commit %q, files (-want +got):\n%s", c.Message, diff)
	}
	e, err := st.Get(state.KindService, "chat")
	if err != nil {
		t.Fatal(err)
	}
	svc := e.Object.(*state.Service)
	wantSvc := &state.Service{Name: "chat", Model: "qwen2-7b", Engine: "vllm", Port: 8123, Args: []string{"--max-model-len", "8192"},
		Env: map[string]string{"VLLM_LOGGING_LEVEL": "DEBUG"}, Labels: map[string]string{"aima.recipe": "qwen-vllm"},
		Config: map[string]any{"gpu_memory_utilization": 0.85}}
	if diff := cmp.Diff(wantSvc, svc); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	// Applying again to the same service name is refused, and writes nothing.
	if _, err := catalog.Apply(st, "qwen-vllm", "chat", nil); !errors.Is(err, state.ErrExists) {
		t.Errorf("second apply: %v, want ErrExists", err)
	}
	if again, _ := rp.Log("", 0); len(again) != len(after) {
		t.Errorf("a refused apply committed")
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "services", "qwen-vllm.yaml")); err == nil {
		t.Errorf("a service under the recipe's name was written")
	}
	// A recipe setting the engine does not take is refused, naming it, and
	// nothing is written (it was once dropped with a warning).
	bad := &state.Recipe{Name: "bad", EngineType: "vllm", Models: []state.RecipeModel{{Name: "m2", Source: "huggingface", Repo: "a/b"}},
		Config: map[string]any{"tensor_parallel": 2}}
	if _, err := st.Create(state.KindCatalog, bad); err != nil {
		t.Fatal(err)
	}
	headBefore, _ := rp.Log("", 0)
	if _, err := catalog.Apply(st, "bad", "", nil); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "tensor_parallel") || !strings.Contains(err.Error(), "gpu_memory_utilization") {
		t.Errorf("apply of an unknown setting: %v; want invalid naming tensor_parallel and the settings vllm takes", err)
	}
	if again, _ := rp.Log("", 0); len(again) != len(headBefore) || st.Exists(state.KindModel, "m2") {
		t.Errorf("a refused apply wrote something")
	}
}

// TestDetected24GBCardFits24GBRecipe: a 24 GB card (nvidia-smi: 24564 MiB)
// matches a recipe that needs 24 GB, instead of being 23.99 GB short.
func TestDetected24GBCardFits24GBRecipe(t *testing.T) {
	d := device.Device{OS: "linux", GPUs: device.ParseNvidiaSMI([]byte("0, NVIDIA GeForce RTX 4090, GPU-abc, 24564, 1024, 23540, 7, 41, 550.54\n"))}
	h := catalog.HostOf(d)
	if h.VRAMGB != 24 || h.GPUVendor != "NVIDIA" {
		t.Fatalf("host %+v", h)
	}
	r := &state.Recipe{Name: "needs-24", EngineType: "vllm", Hardware: &state.Hardware{GPUVendor: "NVIDIA", MinVRAMGB: 24}}
	if ms, ex := catalog.Rank([]*state.Recipe{r}, h); len(ms) != 1 || len(ex) != 0 {
		t.Errorf("a 24 GB recipe on a 24 GB card: matched %d, left out %+v", len(ms), ex)
	}
}
