// Package catalog matches recipes (catalog/<name>.yaml) against a machine's
// hardware and applies a recipe as model and service files.
//
// Matching is pure: a Host and the recipes in, ranked matches out. Apply
// only writes files (one commit through state.Store.Apply); the sync loop
// deploys them. Nothing here talks to Docker.
package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/state"
)

// Host is the hardware recipes are matched against.
type Host struct {
	GPUVendor string  `json:"gpu_vendor"` // NVIDIA, AMD, ... or "none"
	GPUModel  string  `json:"gpu_model,omitempty"`
	GPUArch   string  `json:"gpu_arch,omitempty"`
	VRAMGB    float64 `json:"vram_gb"`
	OS        string  `json:"os"`
}

// HostOf describes a detected device (its largest GPU).
func HostOf(d device.Device) Host {
	h := Host{GPUVendor: "none", OS: d.OS}
	var best *device.GPU
	for i := range d.GPUs {
		if best == nil || d.GPUs[i].MemoryTotalMB > best.MemoryTotalMB {
			best = &d.GPUs[i]
		}
	}
	if best != nil {
		h.GPUVendor, h.GPUModel, h.VRAMGB = best.Vendor, best.Name, d.VRAMGB()
		h.GPUArch = Arch(best.Name)
	}
	return h
}

// Points of each criterion. A hard mismatch (vendor, OS, too little VRAM)
// excludes the recipe; a soft one (another GPU model or architecture, more
// VRAM than the recipe targets) costs points.
const (
	pointsVendor   = 30
	pointsModel    = 20
	pointsArch     = 10
	pointsVRAM     = 15
	pointsVRAMFit  = 5
	pointsOS       = 5
	pointsVerified = 5
	penaltySoft    = 5
)

// Match is one recipe scored against a host.
type Match struct {
	Recipe   *state.Recipe
	Score    int
	Reasons  []string
	Excluded bool
}

// Rank scores every recipe: the matches by score (then name), and the
// excluded ones with why.
func Rank(recipes []*state.Recipe, h Host) (matches, excluded []Match) {
	for _, r := range recipes {
		m := Score(r, h)
		if m.Excluded {
			excluded = append(excluded, m)
		} else {
			matches = append(matches, m)
		}
	}
	sort.SliceStable(matches, func(i, j int) bool {
		if matches[i].Score != matches[j].Score {
			return matches[i].Score > matches[j].Score
		}
		return matches[i].Recipe.Name < matches[j].Recipe.Name
	})
	sort.SliceStable(excluded, func(i, j int) bool { return excluded[i].Recipe.Name < excluded[j].Recipe.Name })
	return matches, excluded
}

// Score scores one recipe against a host, with a reason per criterion.
func Score(r *state.Recipe, h Host) Match {
	m := Match{Recipe: r}
	add := func(points int, format string, args ...any) {
		m.Score += points
		m.Reasons = append(m.Reasons, fmt.Sprintf(format, args...))
	}
	var why []string // hard mismatches: they alone are the reasons of an excluded recipe
	exclude := func(format string, args ...any) {
		m.Excluded = true
		why = append(why, fmt.Sprintf(format, args...))
	}
	hw := r.Hardware
	if hw == nil {
		hw = &state.Hardware{}
	}
	hostGPU := !noGPU(h.GPUVendor)
	switch {
	case hw.GPUVendor == "":
		// Any hardware.
	case noGPU(hw.GPUVendor):
		add(pointsVendor/2, "made for machines without a GPU")
	case !hostGPU:
		exclude("needs a GPU from %s; this machine has none", hw.GPUVendor)
	case strings.EqualFold(hw.GPUVendor, h.GPUVendor):
		add(pointsVendor, "GPU vendor %s matches", hw.GPUVendor)
	default:
		exclude("needs a GPU from %s; this machine has %s", hw.GPUVendor, h.GPUVendor)
	}
	if hw.GPUModel != "" && hostGPU {
		if sameModel(hw.GPUModel, h.GPUModel) {
			add(pointsModel, "GPU model %s matches", hw.GPUModel)
		} else {
			add(-penaltySoft, "made for %s (this machine: %s)", hw.GPUModel, orUnknown(h.GPUModel))
		}
	}
	if hw.GPUArch != "" && hostGPU {
		switch arch := h.GPUArch; {
		case arch == "":
			m.Reasons = append(m.Reasons, fmt.Sprintf("made for the %s architecture (this GPU's is not known)", hw.GPUArch))
		case strings.EqualFold(arch, hw.GPUArch):
			add(pointsArch, "GPU architecture %s matches", hw.GPUArch)
		default:
			add(-penaltySoft, "made for the %s architecture (this GPU: %s)", hw.GPUArch, arch)
		}
	}
	if hw.MinVRAMGB > 0 {
		if h.VRAMGB < hw.MinVRAMGB {
			exclude("needs at least %s GB of GPU memory; this machine has %s", gb(hw.MinVRAMGB), gb(h.VRAMGB))
		} else {
			add(pointsVRAM, "%s GB of GPU memory is at least the %s GB it needs", gb(h.VRAMGB), gb(hw.MinVRAMGB))
		}
	}
	if hw.MaxVRAMGB > 0 && hostGPU {
		if h.VRAMGB <= hw.MaxVRAMGB {
			add(pointsVRAMFit, "sized for GPUs up to %s GB", gb(hw.MaxVRAMGB))
		} else {
			add(-penaltySoft, "sized for GPUs up to %s GB; this one has %s GB (a bigger recipe may use it better)", gb(hw.MaxVRAMGB), gb(h.VRAMGB))
		}
	}
	if hw.OS != "" {
		if strings.EqualFold(hw.OS, h.OS) {
			add(pointsOS, "OS %s matches", hw.OS)
		} else {
			exclude("made for %s; this machine runs %s", hw.OS, h.OS)
		}
	}
	if r.Verified {
		add(pointsVerified, "verified on its hardware")
	}
	if m.Excluded {
		m.Reasons = why
	}
	if len(m.Reasons) == 0 {
		m.Reasons = []string{"no hardware requirements"}
	}
	return m
}

func noGPU(vendor string) bool {
	switch strings.ToLower(strings.TrimSpace(vendor)) {
	case "", "none", "cpu", "no":
		return true
	}
	return false
}

// sameModel compares GPU model names loosely: "RTX 4090" matches
// "NVIDIA GeForce RTX 4090".
func sameModel(want, have string) bool {
	w, h := modelKey(want), modelKey(have)
	return w != "" && h != "" && (strings.Contains(h, w) || strings.Contains(w, h))
}

func modelKey(s string) string {
	s = strings.ToLower(s)
	for _, noise := range []string{"nvidia", "geforce", "amd", "radeon", "instinct", " ", "-", "_"} {
		s = strings.ReplaceAll(s, noise, "")
	}
	return s
}

// archs maps GPU model name fragments to architectures; the first match
// wins, so longer fragments come before their prefixes.
var archs = []struct{ fragment, arch string }{
	{"gh200", "hopper"}, {"h100", "hopper"}, {"h200", "hopper"}, {"h800", "hopper"}, {"h20", "hopper"},
	{"gb200", "blackwell"}, {"b200", "blackwell"}, {"b100", "blackwell"}, {"rtx50", "blackwell"}, {"5090", "blackwell"}, {"5080", "blackwell"},
	{"l40", "ada"}, {"l4", "ada"}, {"4090", "ada"}, {"4080", "ada"}, {"4070", "ada"}, {"4060", "ada"}, {"6000ada", "ada"},
	{"a100", "ampere"}, {"a800", "ampere"}, {"a6000", "ampere"}, {"a40", "ampere"}, {"a30", "ampere"}, {"a10", "ampere"}, {"3090", "ampere"}, {"3080", "ampere"}, {"3070", "ampere"}, {"3060", "ampere"},
	{"v100", "volta"}, {"t4", "turing"}, {"2080", "turing"}, {"2070", "turing"},
	{"mi300", "cdna3"}, {"mi250", "cdna2"}, {"mi210", "cdna2"}, {"mi100", "cdna"},
	{"7900", "rdna3"}, {"7800", "rdna3"}, {"7700", "rdna3"}, {"7600", "rdna3"}, {"6900", "rdna2"}, {"6800", "rdna2"}, {"6700", "rdna2"},
}

// Arch guesses a GPU's architecture from its model name ("" when unknown).
func Arch(model string) string {
	k := modelKey(model)
	for _, a := range archs {
		if strings.Contains(k, a.fragment) {
			return a.arch
		}
	}
	return ""
}

func gb(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Applied is what Apply wrote.
type Applied struct {
	Models  []string `json:"models"`
	Service string   `json:"service"`
	Engine  string   `json:"engine"`
}

// Apply writes the recipe's models and a service of its first model on an
// engine of its engine_type, in one commit ("catalog apply: <recipe>").
// service names the service (default: the recipe's name); an existing
// service of that name is refused, so applying twice never clobbers one.
// Recipe config "args" and "env" become the service's; "gpu", "memory",
// "cpus", "port" and "replicas" set those fields; every other key is an
// engine setting (the service's config), refused when the engine does not
// take it. fits, when set, checks that the service fits this machine (see
// Fit) before anything is written.
func Apply(st *state.Store, recipe, service string, fits func(*state.Model, *state.Service, string) error) (Applied, error) {
	r, err := load[*state.Recipe](st, state.KindCatalog, recipe)
	if err != nil {
		return Applied{}, err
	}
	if len(r.Models) == 0 {
		return Applied{}, &state.InvalidError{Problems: []state.Problem{{Field: "/models", Message: fmt.Sprintf("recipe %q has no models to apply", r.Name)}}}
	}
	if r.EngineType == "" {
		return Applied{}, &state.InvalidError{Problems: []state.Problem{{Field: "/engine_type", Message: fmt.Sprintf("recipe %q has no engine_type", r.Name)}}}
	}
	engine, err := st.ResolveEngine(r.EngineType)
	if err != nil {
		return Applied{}, err
	}
	if service == "" {
		service = r.Name
	}
	if err := state.CheckName("name", service); err != nil {
		return Applied{}, err
	}
	if st.Exists(state.KindService, service) {
		return Applied{}, fmt.Errorf("service %q: %w (choose another name with --name)", service, state.ErrExists)
	}
	var objs []state.Object
	var kinds []*state.Kind
	out := Applied{Service: service, Engine: engine}
	for i := range r.Models {
		objs = append(objs, ModelOf(r, i))
		kinds = append(kinds, state.KindModel)
		out.Models = append(out.Models, r.Models[i].Name)
	}
	svc, err := ServiceOf(r, service, engine)
	if err != nil {
		return Applied{}, err
	}
	if fits != nil {
		if err := fits(objs[0].(*state.Model), svc, engine); err != nil {
			return Applied{}, err
		}
	}
	objs = append(objs, svc)
	kinds = append(kinds, state.KindService)
	if _, err := st.Apply(objs, kinds, "catalog apply: "+r.Name); err != nil {
		return Applied{}, err
	}
	return out, nil
}

// load loads an object of kind k (a file or a built-in) as its type T; an
// invalid file without a valid committed version is ErrInvalid.
func load[T state.Object](st *state.Store, k *state.Kind, name string) (T, error) {
	var zero T
	e, err := st.Get(k, name)
	if err != nil {
		return zero, err
	}
	o, ok := e.Object.(T)
	if !ok || e.Object == nil {
		return zero, fmt.Errorf("%w: %s %q: its file is invalid: %v", state.ErrInvalid, k.Name, name, e.Problem)
	}
	return o, nil
}

// ModelOf is the i-th model of a recipe as a model file, labelled with the
// recipe.
func ModelOf(r *state.Recipe, i int) *state.Model {
	rm := r.Models[i]
	return &state.Model{Name: rm.Name, Source: rm.Source, Repo: rm.Repo, Tag: rm.Tag, Path: rm.Path, URL: rm.URL, Format: rm.Format, Type: rm.Type, Size: rm.Size,
		Labels: map[string]string{"aima.recipe": r.Name}}
}

// ServiceOf is the service a recipe makes of its first model on engine:
// config "args", "env", "gpu", "memory", "cpus", "port" and "replicas" set
// those fields; every other key is an engine setting (the service's config).
func ServiceOf(r *state.Recipe, name, engine string) (*state.Service, error) {
	svc := map[string]any{"name": name, "model": r.Models[0].Name, "engine": engine, "labels": map[string]any{"aima.recipe": r.Name}}
	keys := make([]string, 0, len(r.Config))
	for k := range r.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "args", "env", "gpu", "memory", "cpus", "port", "replicas":
			svc[k] = r.Config[k]
		default:
			// An engine setting (gpu_memory_utilization, max_model_len,
			// ...): the engine turns it into arguments, or the write is
			// refused naming it. Nothing is dropped.
			cfg, _ := svc["config"].(map[string]any)
			if cfg == nil {
				cfg = map[string]any{}
				svc["config"] = cfg
			}
			cfg[k] = r.Config[k]
		}
	}
	// YAML gives numbers and booleans where the service wants strings.
	if g, ok := svc["gpu"]; ok {
		svc["gpu"] = fmt.Sprint(g)
	}
	if args, ok := svc["args"].([]any); ok {
		strs := make([]any, len(args))
		for i, a := range args {
			strs[i] = fmt.Sprint(a)
		}
		svc["args"] = strs
	}
	if env, ok := svc["env"].(map[string]any); ok {
		strs := map[string]any{}
		for k, v := range env {
			strs[k] = fmt.Sprint(v)
		}
		svc["env"] = strs
	}
	o, err := state.KindService.FromMap(svc)
	if err != nil {
		return nil, fmt.Errorf("recipe %q config: %w", r.Name, err)
	}
	return o.(*state.Service), nil
}
