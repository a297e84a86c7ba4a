// Package device detects what this machine has for inference: GPUs (through
// nvidia-smi and rocm-smi when they are installed), CPU, memory and OS.
//
// It only reads: /proc, the two vendor tools, the Go runtime. A machine
// without a GPU is a normal answer (GPUs empty, GPU "none detected"),
// never an error; a tool that fails is reported in Notes.
package device

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// NoGPU is the GPU summary of a machine without a GPU.
const NoGPU = "none detected"

// Device is what detection finds on this machine.
type Device struct {
	Hostname      string   `json:"hostname,omitempty"`
	OS            string   `json:"os"`
	Arch          string   `json:"arch"`
	CPUs          int      `json:"cpus"`
	CPUModel      string   `json:"cpu_model,omitempty"`
	MemoryTotalMB int64    `json:"memory_total_mb,omitempty"`
	MemoryAvailMB int64    `json:"memory_available_mb,omitempty"`
	GPU           string   `json:"gpu"` // summary: "2 x NVIDIA RTX 4090" or "none detected"
	GPUs          []GPU    `json:"gpus"`
	Notes         []string `json:"notes,omitempty"` // why a source gave nothing
}

// GPU is one GPU as its vendor tool reports it.
type GPU struct {
	Index         int     `json:"index"`
	Vendor        string  `json:"vendor"`
	Name          string  `json:"name"`
	UUID          string  `json:"uuid,omitempty"`
	MemoryTotalMB int64   `json:"memory_total_mb"`
	MemoryUsedMB  int64   `json:"memory_used_mb"`
	MemoryFreeMB  int64   `json:"memory_free_mb"`
	Utilization   float64 `json:"utilization_pct"`
	Temperature   float64 `json:"temperature_c"`
	Driver        string  `json:"driver,omitempty"`
}

// HasGPU reports whether any GPU was found.
func (d Device) HasGPU() bool { return len(d.GPUs) > 0 }

// VRAMGB is the memory of the largest GPU, in GB (0 without a GPU): what a
// single-GPU recipe can use. See GB.
func (d Device) VRAMGB() float64 {
	var mb int64
	for _, g := range d.GPUs {
		mb = max(mb, g.MemoryTotalMB)
	}
	return GB(mb)
}

// GB is a GPU's memory size in the whole GB it is sold as. The vendor tools
// report what is usable, a little less: 24564 MiB for a 24 GB RTX 4090,
// 40536 MiB for a 40 GB A100, 81559 MiB for an 80 GB H100. Unrounded, a
// 24 GB card would be refused by a recipe that needs 24 GB. Under 1 GB it
// is rounded to a tenth.
func GB(mib int64) float64 {
	gb := float64(mib) / 1024
	if gb < 1 {
		return math.Round(gb*10) / 10
	}
	return math.Round(gb)
}

// Label names a GPU by vendor and name, the vendor once: nvidia-smi's name
// already starts with it ("NVIDIA GeForce RTX 4090"), rocm-smi's may not
// ("Radeon RX 7900 XTX").
func Label(vendor, name string) string {
	switch {
	case name == "":
		return vendor
	case vendor == "" || len(name) >= len(vendor) && strings.EqualFold(name[:len(vendor)], vendor) && (len(name) == len(vendor) || name[len(vendor)] == ' '):
		return name
	}
	return vendor + " " + name
}

// toolTimeout bounds one call of a vendor tool.
const toolTimeout = 10 * time.Second

// Detect reads /proc and asks nvidia-smi and rocm-smi when they are
// installed.
func Detect(ctx context.Context) Device {
	d := Device{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GPUs: []GPU{}}
	d.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		d.CPUModel = CPUModel(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem := Meminfo(b)
		d.MemoryTotalMB, d.MemoryAvailMB = mem["MemTotal"]/1024, mem["MemAvailable"]/1024
	}
	if out, ok := run(ctx, &d, "nvidia-smi",
		"--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,driver_version",
		"--format=csv,noheader,nounits"); ok {
		d.GPUs = append(d.GPUs, ParseNvidiaSMI(out)...)
	}
	if out, ok := run(ctx, &d, "rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showuse", "--showtemp", "--json"); ok {
		amd, err := ParseROCmSMI(out)
		if err != nil {
			d.Notes = append(d.Notes, fmt.Sprintf("rocm-smi: %v", err))
		}
		d.GPUs = append(d.GPUs, amd...)
	}
	if len(d.GPUs) == 0 {
		d.Notes = append(d.Notes, "no GPU found (neither nvidia-smi nor rocm-smi reported one); CPU-only engines and recipes apply")
	}
	d.GPU = Summary(d.GPUs)
	return d
}

// run runs a vendor tool when it is installed; a missing tool is silent,
// a failing one is noted.
func run(ctx context.Context, d *Device, tool string, args ...string) ([]byte, bool) {
	bin, err := exec.LookPath(tool)
	if err != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		d.Notes = append(d.Notes, fmt.Sprintf("%s: %v", tool, err))
		return nil, false
	}
	return out, true
}

// CPUModel finds the CPU model in /proc/cpuinfo.
func CPUModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Model", "Hardware", "cpu model":
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Meminfo parses /proc/meminfo into kB values.
func Meminfo(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// ParseNvidiaSMI parses the CSV of Detect's nvidia-smi query; fields that
// say "[N/A]" or "[Not Supported]" are left zero.
func ParseNvidiaSMI(out []byte) []GPU {
	gpus := []GPU{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 9 {
			continue
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		idx, _ := strconv.Atoi(f[0])
		gpus = append(gpus, GPU{
			Index: idx, Vendor: "NVIDIA", Name: f[1], UUID: f[2],
			MemoryTotalMB: int64(num(f[3])), MemoryUsedMB: int64(num(f[4])), MemoryFreeMB: int64(num(f[5])),
			Utilization: num(f[6]), Temperature: num(f[7]), Driver: f[8],
		})
	}
	return gpus
}

func num(s string) float64 { n, _ := strconv.ParseFloat(strings.TrimSpace(s), 64); return n }

// ParseROCmSMI parses `rocm-smi --showproductname --showmeminfo vram
// --showuse --showtemp --json`: an object per card ("card0", ...) whose key
// names vary between ROCm versions, so several spellings are accepted.
func ParseROCmSMI(out []byte) ([]GPU, error) {
	var cards map[string]map[string]any
	if err := json.Unmarshal(out, &cards); err != nil {
		return []GPU{}, fmt.Errorf("unexpected output: %v", err)
	}
	keys := make([]string, 0, len(cards))
	for k := range cards {
		if strings.HasPrefix(k, "card") {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return cardIndex(keys[i]) < cardIndex(keys[j]) })
	gpus := []GPU{}
	for _, k := range keys {
		c := cards[k]
		field := func(names ...string) string {
			for _, n := range names {
				if v, ok := c[n]; ok {
					if s := strings.TrimSpace(fmt.Sprint(v)); s != "" && s != "N/A" {
						return s
					}
				}
			}
			return ""
		}
		name := field("Card Series", "Card series", "Device Name", "Card model", "Card Model", "Card SKU")
		total := num(field("VRAM Total Memory (B)"))
		used := num(field("VRAM Total Used Memory (B)"))
		gpus = append(gpus, GPU{
			Index: cardIndex(k), Vendor: "AMD", Name: name, UUID: field("Unique ID"),
			MemoryTotalMB: int64(total / (1 << 20)), MemoryUsedMB: int64(used / (1 << 20)), MemoryFreeMB: int64((total - used) / (1 << 20)),
			Utilization: num(field("GPU use (%)")),
			Temperature: num(field("Temperature (Sensor edge) (C)", "Temperature (Sensor junction) (C)")),
			Driver:      field("Driver version"),
		})
	}
	return gpus, nil
}

func cardIndex(k string) int { n, _ := strconv.Atoi(strings.TrimPrefix(k, "card")); return n }

// Summary says in a few words what GPUs there are: "2 x NVIDIA RTX 4090",
// or NoGPU.
func Summary(gpus []GPU) string {
	if len(gpus) == 0 {
		return NoGPU
	}
	count := map[string]int{}
	var names []string
	for _, g := range gpus {
		n := Label(g.Vendor, g.Name)
		if count[n] == 0 {
			names = append(names, n)
		}
		count[n]++
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%d x %s", count[n], n)
	}
	return strings.Join(parts, ", ")
}
