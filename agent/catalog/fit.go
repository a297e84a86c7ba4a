package catalog

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/state"
)

// The fit check: whether a model can be served by an engine on this
// machine's memory, before anything is written or started.
//
// A model needs NeedGB(weights): its weights, plus 20 % of them for the KV
// cache of an 8k-token context and the activations, plus 1 GB for the
// engine's own runtime (CUDA context, graphs, buffers). GB are GiB here,
// as the vendor tools and size strings count them. The built-in recipes'
// min_vram_gb are this formula applied to their models' sizes (a test
// keeps them so).
//
// Where the model goes:
//   - an engine that needs a GPU (vLLM, SGLang) must find it in the free
//     memory of the GPUs the service gets (service gpu: all of them by
//     default, the listed ids, or one set per replica);
//   - an engine that can use a GPU (ollama, llama.cpp) offloads what does
//     not fit to system memory: free GPU memory plus available memory;
//   - on a machine without a GPU, or with gpu: none, system memory;
//   - the stub loads no weights and always fits.
//
// A model without a size, and an engine that needs a GPU on a machine
// without one (the runtime refuses that with its own reason), are not
// checked.

// kvShare and runtimeGB are the formula's margin (see above).
const (
	kvShare   = 0.2
	runtimeGB = 1.0
)

// NeedGB is the memory, in GB rounded up to a tenth, that a model of
// weights bytes needs to be served.
func NeedGB(weights int64) float64 {
	gb := float64(weights) / (1 << 30)
	return math.Ceil((gb*(1+kvShare)+runtimeGB)*10-1e-9) / 10
}

// ModelNeedGB is what the model needs (NeedGB of its size), or 0 when it
// has no size.
func ModelNeedGB(m *state.Model) (float64, error) {
	if m == nil || m.Size == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(m.Size)
	if err != nil {
		return 0, state.FieldError("size", "model %q: %q is not a size (4.7g, 640Mi)", m.Name, m.Size)
	}
	return NeedGB(n), nil
}

// Placement is what the fit check needs to know of a service.
type Placement struct {
	Model      string  // for the message
	NeedGB     float64 // ModelNeedGB of the model
	EngineType string  // stub loads nothing
	EngineGPU  string  // the engine's gpu: required, optional, none
	GPU        string  // the service's gpu field
	Replicas   int
}

// Fit checks that p fits the device's memory (see the package comment of
// this file). The error wraps state.ErrConflict and gives the numbers:
// "model qwen2.5-7b needs 18.1 GB of GPU memory; GPU 0 (NVIDIA GeForce RTX
// 3080) has 9.5 GB free of 10 GB".
func Fit(d device.Device, p Placement) error {
	if p.NeedGB <= 0 || p.EngineType == "stub" {
		return nil
	}
	gpuWanted := p.EngineGPU != "none" && p.GPU != "none"
	if !gpuWanted || !d.HasGPU() {
		if p.EngineGPU == "required" && p.GPU != "none" {
			return nil // no GPU at all: the runtime's own reason says so
		}
		return fitMemory(d, p, 0, "")
	}
	for _, set := range gpuSets(d, p.GPU, p.Replicas) {
		var free, total float64
		var names []string
		for _, g := range set {
			free += gpuFreeGB(g)
			total += float64(g.MemoryTotalMB) / 1024
			names = append(names, fmt.Sprintf("%d (%s)", g.Index, g.Name))
		}
		have := fmt.Sprintf("GPU %s has %s GB free of %s GB", strings.Join(names, ", "), gbs(free), gb(device.GB(int64(total*1024))))
		if len(set) > 1 {
			have = fmt.Sprintf("GPUs %s have %s GB free of %s GB together", strings.Join(names, ", "), gbs(free), gb(device.GB(int64(total*1024))))
		}
		if p.EngineGPU == "optional" {
			if err := fitMemory(d, p, free, have); err != nil {
				return err
			}
			continue
		}
		if p.NeedGB > free {
			return fmt.Errorf("%w: model %s needs %s GB of GPU memory; %s", state.ErrConflict, p.Model, gbs(p.NeedGB), have)
		}
	}
	return nil
}

// fitMemory checks system memory plus gpuFree GB of GPU memory (an engine
// that offloads to the CPU).
func fitMemory(d device.Device, p Placement, gpuFree float64, have string) error {
	avail := d.MemoryAvailMB
	if avail == 0 {
		avail = d.MemoryTotalMB
	}
	if avail == 0 {
		return nil // not known
	}
	mem := float64(avail) / 1024
	if p.NeedGB <= mem+gpuFree {
		return nil
	}
	sys := fmt.Sprintf("this machine has %s GB of memory available of %s GB", gbs(mem), gbs(float64(d.MemoryTotalMB)/1024))
	if have != "" {
		return fmt.Errorf("%w: model %s needs %s GB of GPU and system memory; %s and %s", state.ErrConflict, p.Model, gbs(p.NeedGB), have, sys)
	}
	return fmt.Errorf("%w: model %s needs %s GB of memory; %s", state.ErrConflict, p.Model, gbs(p.NeedGB), sys)
}

// gpuFreeGB is a GPU's free memory, or its total when the tool does not
// report use.
func gpuFreeGB(g device.GPU) float64 {
	if g.MemoryFreeMB > 0 || g.MemoryUsedMB > 0 {
		return float64(g.MemoryFreeMB) / 1024
	}
	return float64(g.MemoryTotalMB) / 1024
}

// gpuSets are the GPUs each replica of a service gets, as the service's
// gpu field says: auto and all give every GPU to each replica,
// per_replica GPU k-1 to replica k, "0,1" those ids, "0,1;2,3" one set
// per replica. Ids the machine lacks are left out (the runtime reports
// them).
func gpuSets(d device.Device, spec string, replicas int) [][]device.GPU {
	byIndex := map[int]device.GPU{}
	for _, g := range d.GPUs {
		byIndex[g.Index] = g
	}
	var sets [][]device.GPU
	switch spec {
	case "", "auto", "all":
		return [][]device.GPU{d.GPUs}
	case "per_replica":
		for k := range max(replicas, 1) {
			if g, ok := byIndex[k]; ok {
				sets = append(sets, []device.GPU{g})
			}
		}
		return sets
	}
	for _, part := range strings.Split(spec, ";") {
		var set []device.GPU
		for _, id := range strings.Split(part, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(id)); err == nil {
				if g, ok := byIndex[n]; ok {
					set = append(set, g)
				}
			}
		}
		if len(set) > 0 {
			sets = append(sets, set)
		}
	}
	return sets
}

// gbs writes GB with one decimal (whole numbers without).
func gbs(v float64) string { return gb(math.Round(v*10) / 10) }
