package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	units "github.com/docker/go-units"

	"github.com/aima-dev/aima/agent/catalog"
	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestKnowledgeBaseIsConsistent: every built-in recipe deploys a model
// with a size, a real-looking source (OWNER/NAME on Hugging Face, a tag on
// Ollama, an https URL), names its model in its tags, and a recipe that
// needs a GPU asks for exactly the memory the formula gives its model; a
// hardware profile has no models and an engine that exists.
func TestKnowledgeBaseIsConsistent(t *testing.T) {
	st := testenv.NewStore(t)
	entries := state.Builtins(state.KindCatalog)
	if len(entries) < 40 {
		t.Fatalf("only %d built-in recipes", len(entries))
	}
	profiles := 0
	for _, e := range entries {
		r := e.Object.(*state.Recipe)
		if _, err := st.ResolveEngine(r.EngineType); err != nil {
			t.Errorf("%s: engine_type %q: %v", r.Name, r.EngineType, err)
		}
		if slices.Contains(r.Tags, catalog.ProfileTag) {
			profiles++
			if len(r.Models) != 0 || r.Hardware == nil || r.Hardware.GPUVendor == "" {
				t.Errorf("profile %s: want a GPU vendor (or none) and no models: %+v", r.Name, r)
			}
			continue
		}
		if len(r.Models) != 1 || r.Description == "" {
			t.Errorf("%s: want one model and a description", r.Name)
			continue
		}
		m := r.Models[0]
		if !slices.Contains(r.Tags, m.Name) {
			t.Errorf("%s: tags %v do not name its model %s", r.Name, r.Tags, m.Name)
		}
		switch m.Source {
		case "huggingface":
			if strings.Count(m.Repo, "/") != 1 {
				t.Errorf("%s: Hugging Face repo %q, want OWNER/NAME", r.Name, m.Repo)
			}
		case "ollama":
			if m.Repo == "" || strings.ContainsAny(m.Repo, "/:") {
				t.Errorf("%s: Ollama repo %q", r.Name, m.Repo)
			}
		case "http":
			if !strings.HasPrefix(m.URL, "https://") || !strings.HasSuffix(m.URL, ".gguf") {
				t.Errorf("%s: url %q, want an https GGUF file", r.Name, m.URL)
			}
		default:
			t.Errorf("%s: source %q", r.Name, m.Source)
		}
		size, err := units.RAMInBytes(m.Size)
		if err != nil || size < 100<<20 {
			t.Errorf("%s: size %q: %v", r.Name, m.Size, err)
			continue
		}
		need := catalog.NeedGB(size)
		if r.EngineType == "vllm" && (r.Hardware == nil || r.Hardware.MinVRAMGB != need) {
			t.Errorf("%s: min_vram_gb %v, want %v (weights %s × 1.2 + 1 GB)", r.Name, r.Hardware, need, m.Size)
		}
		if r.EngineType != "stub" && !strings.Contains(r.Description, " GB") {
			t.Errorf("%s: the description does not say the memory it needs", r.Name)
		}
	}
	if profiles < 5 {
		t.Errorf("%d hardware profiles, want NVIDIA datacenter/consumer/small, AMD and CPU", profiles)
	}
}

// TestBuiltinRecipesOverridable: built-in recipes are listed with source
// builtin; a file of the same name overrides one (source file) and
// deleting it brings the built-in back; a built-in cannot be deleted.
func TestBuiltinRecipesOverridable(t *testing.T) {
	st := testenv.NewStore(t)
	source := func(name string) string {
		t.Helper()
		e, err := st.Get(state.KindCatalog, name)
		if err != nil {
			t.Fatal(err)
		}
		return e.Map()["source"].(string) + " " + e.Object.(*state.Recipe).Description
	}
	if got := source("tinyllama-ollama"); !strings.HasPrefix(got, "builtin ") {
		t.Fatalf("tinyllama-ollama: %s", got)
	}
	if _, err := st.Update(state.KindCatalog, "tinyllama-ollama", "", func(o state.Object) (state.Object, error) {
		o.(*state.Recipe).Description = "mine"
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := source("tinyllama-ollama"); got != "file mine" {
		t.Errorf("after an update: %q, want the override file", got)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "catalog", "tinyllama-ollama.yaml")); err != nil {
		t.Error(err)
	}
	if err := st.Delete(state.KindCatalog, "tinyllama-ollama", ""); err != nil {
		t.Fatal(err)
	}
	if got := source("tinyllama-ollama"); !strings.HasPrefix(got, "builtin ") {
		t.Errorf("after deleting the override: %s", got)
	}
	if err := st.Delete(state.KindCatalog, "tinyllama-ollama", ""); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("deleting a built-in: %v", err)
	}
	all, _ := st.List(state.KindCatalog)
	if len(all) != len(state.Builtins(state.KindCatalog)) {
		t.Errorf("list: %d entries, want the %d built-ins", len(all), len(state.Builtins(state.KindCatalog)))
	}
}

func gpu(i int, name string, totalGB, freeGB float64) device.GPU {
	return device.GPU{Index: i, Vendor: "NVIDIA", Name: name, MemoryTotalMB: int64(totalGB * 1024), MemoryFreeMB: int64(freeGB * 1024), MemoryUsedMB: int64((totalGB - freeGB) * 1024)}
}

// TestFit: a model is refused when it does not fit the free memory of the
// GPUs its service gets, with the numbers; ollama-like engines may use
// system memory too; the stub and unknown sizes always fit.
func TestFit(t *testing.T) {
	rtx3090 := device.Device{OS: "linux", MemoryTotalMB: 32 << 10, MemoryAvailMB: 28 << 10, GPUs: []device.GPU{gpu(0, "NVIDIA GeForce RTX 3090", 24, 11.8)}}
	two := device.Device{OS: "linux", MemoryTotalMB: 64 << 10, MemoryAvailMB: 60 << 10, GPUs: []device.GPU{gpu(0, "NVIDIA A10", 24, 20), gpu(1, "NVIDIA A10", 24, 3)}}
	cpu := device.Device{OS: "linux", MemoryTotalMB: 16 << 10, MemoryAvailMB: 12 << 10}
	vllm := func(need float64, gpus string, replicas int) catalog.Placement {
		return catalog.Placement{Model: "qwen2.5-7b", NeedGB: need, EngineType: "vllm", EngineGPU: "required", GPU: gpus, Replicas: replicas}
	}
	ollama := catalog.Placement{Model: "qwen2.5-32b", NeedGB: 23.4, EngineType: "ollama", EngineGPU: "optional"}
	for _, tc := range []struct {
		name string
		dev  device.Device
		p    catalog.Placement
		want string // "" fits
	}{
		{"too big for the free memory", rtx3090, vllm(18.1, "", 1), "model qwen2.5-7b needs 18.1 GB of GPU memory; GPU 0 (NVIDIA GeForce RTX 3090) has 11.8 GB free of 24 GB"},
		{"fits", rtx3090, vllm(11.5, "", 1), ""},
		{"two GPUs together", two, vllm(22, "all", 1), ""},
		{"the one GPU asked for", two, vllm(18.1, "1", 1), "GPU 1 (NVIDIA A10) has 3 GB free of 24 GB"},
		{"each replica its GPU", two, vllm(18.1, "per_replica", 2), "GPU 1 (NVIDIA A10) has 3 GB free"},
		{"a set per replica", two, vllm(4, "0;1", 2), "needs 4 GB of GPU memory; GPU 1 (NVIDIA A10) has 3 GB free"},
		{"ollama offloads to system memory", rtx3090, ollama, ""},
		{"ollama: not even with system memory", rtx3090, catalog.Placement{Model: "qwen2.5-72b", NeedGB: 53.6, EngineType: "ollama", EngineGPU: "optional"},
			"model qwen2.5-72b needs 53.6 GB of GPU and system memory; GPU 0 (NVIDIA GeForce RTX 3090) has 11.8 GB free of 24 GB and this machine has 28 GB of memory available of 32 GB"},
		{"CPU only", cpu, ollama, "model qwen2.5-32b needs 23.4 GB of memory; this machine has 12 GB of memory available of 16 GB"},
		{"gpu none on a GPU machine", two, catalog.Placement{Model: "m", NeedGB: 70, EngineType: "llamacpp", EngineGPU: "optional", GPU: "none"}, "needs 70 GB of memory; this machine has 60 GB"},
		{"vLLM without a GPU is the runtime's to refuse", cpu, vllm(18.1, "", 1), ""},
		{"the stub loads nothing", cpu, catalog.Placement{Model: "m", NeedGB: 500, EngineType: "stub", EngineGPU: "none"}, ""},
		{"size unknown", cpu, catalog.Placement{Model: "m", EngineType: "ollama", EngineGPU: "optional"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catalog.Fit(tc.dev, tc.p)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, state.ErrConflict)):
				t.Errorf("got %v, want a conflict saying %q", err, tc.want)
			}
		})
	}
}

// TestPlanRun: aima run chooses the recipe for the machine: vLLM on a
// 24 GB NVIDIA GPU, ollama on a small GPU or none; an Ollama name is an
// alias; --engine stub takes the stub recipe; unknown names get
// suggestions; an existing service of the model is reused.
func TestPlanRun(t *testing.T) {
	st := testenv.NewStore(t)
	rtx4090 := catalog.HostOf(device.Device{OS: "linux", GPUs: []device.GPU{gpu(0, "NVIDIA GeForce RTX 4090", 24, 23)}})
	rtx3060 := catalog.HostOf(device.Device{OS: "linux", GPUs: []device.GPU{gpu(0, "NVIDIA GeForce RTX 3060", 12, 11)}})
	cpu := catalog.HostOf(device.Device{OS: "linux"})
	for _, tc := range []struct {
		name                       string
		host                       catalog.Host
		req                        catalog.RunRequest
		recipe, engine, profile    string
		pull                       bool
		serviceName, serviceEngine string
	}{
		{"7B on a 4090", rtx4090, catalog.RunRequest{Model: "qwen2.5-7b"}, "qwen2.5-7b-vllm", "vllm", "profile-nvidia-consumer", true, "qwen2.5-7b", "vllm"},
		{"7B on a 3060", rtx3060, catalog.RunRequest{Model: "qwen2.5:7b"}, "qwen2.5-7b-ollama", "ollama", "profile-nvidia-small", false, "qwen2.5-7b", "ollama"},
		{"7B without a GPU", cpu, catalog.RunRequest{Model: "qwen2.5-7b"}, "qwen2.5-7b-ollama", "ollama", "profile-cpu", false, "qwen2.5-7b", "ollama"},
		{"14B does not fit a 4090 with vLLM", rtx4090, catalog.RunRequest{Model: "qwen2.5-14b"}, "qwen2.5-14b-ollama", "ollama", "profile-nvidia-consumer", false, "qwen2.5-14b", "ollama"},
		{"llama.cpp asked for", cpu, catalog.RunRequest{Model: "tinyllama", Engine: "llamacpp", Service: "chat"}, "tinyllama-llamacpp", "llamacpp", "profile-cpu", true, "chat", "llamacpp"},
		{"the stub", cpu, catalog.RunRequest{Model: "tinyllama", Engine: "stub"}, "tinyllama-stub", "stub", "profile-cpu", false, "tinyllama", "stub"},
		{"the stub serves any model", cpu, catalog.RunRequest{Model: "gemma3-4b", Engine: "stub"}, "gemma3-4b-ollama", "stub", "profile-cpu", false, "gemma3-4b", "stub"},
		{"a recipe by name", rtx4090, catalog.RunRequest{Model: "mistral-7b-ollama"}, "mistral-7b-ollama", "ollama", "profile-nvidia-consumer", false, "mistral-7b", "ollama"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := catalog.PlanRun(st, tc.host, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if p.Recipe != tc.recipe || p.EngineType != tc.engine || p.Profile != tc.profile || p.Pull != tc.pull || p.Service.Name != tc.serviceName || p.Service.Engine != tc.serviceEngine || p.ServiceExists {
				t.Errorf("plan: recipe %s engine %s profile %s pull %v service %+v (why: %v)", p.Recipe, p.EngineType, p.Profile, p.Pull, p.Service, p.Why)
			}
		})
	}

	// The stub serving another engine's recipe takes none of its settings
	// (num_ctx is ollama's).
	if p, err := catalog.PlanRun(st, cpu, catalog.RunRequest{Model: "qwen2.5-7b", Engine: "stub"}); err != nil || p.Service.Config != nil || p.Service.Args != nil || p.Service.Labels["aima.recipe"] != "qwen2.5-7b-ollama" {
		t.Errorf("qwen2.5-7b on the stub: %+v %v", p, err)
	}

	// Errors name what is wrong.
	if _, err := catalog.PlanRun(st, cpu, catalog.RunRequest{Model: "qwen9"}); !errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), "did you mean qwen2.5-0.5b") {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := catalog.PlanRun(st, cpu, catalog.RunRequest{Model: "tinyllama", Engine: "vllm"}); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "no recipe runs tinyllama on vllm") {
		t.Errorf("tinyllama on vllm: %v", err)
	}
	if _, err := catalog.PlanRun(st, cpu, catalog.RunRequest{Model: "tinyllama", Engine: "nope"}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("unknown engine: %v", err)
	}

	// A service of the model is reused; a service of that name serving
	// something else is not taken over.
	if _, err := st.Apply([]state.Object{&state.Model{Name: "tinyllama", Source: "ollama", Repo: "tinyllama"}, &state.Service{Name: "mine", Model: "tinyllama", Engine: "stub"}},
		[]*state.Kind{state.KindModel, state.KindService}, "test"); err != nil {
		t.Fatal(err)
	}
	p, err := catalog.PlanRun(st, cpu, catalog.RunRequest{Model: "tinyllama", Engine: "stub"})
	if err != nil || !p.ServiceExists || !p.ModelExists || p.Service.Name != "mine" {
		t.Errorf("second run: %+v %v", p, err)
	}
	if _, err := catalog.PlanRun(st, cpu, catalog.RunRequest{Model: "qwen2.5-0.5b", Service: "mine"}); !errors.Is(err, state.ErrExists) {
		t.Errorf("a service name taken by another model: %v", err)
	}
}

// TestEveryBuiltinRecipeApplies: each built-in recipe writes a valid model
// and service (its config keys are settings its engine takes).
func TestEveryBuiltinRecipeApplies(t *testing.T) {
	st := testenv.NewStore(t)
	for _, e := range state.Builtins(state.KindCatalog) {
		r := e.Object.(*state.Recipe)
		if slices.Contains(r.Tags, catalog.ProfileTag) {
			continue
		}
		if _, err := catalog.Apply(st, r.Name, "svc-"+r.Name, nil); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
	}
}
