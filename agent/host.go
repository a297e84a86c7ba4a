package agent

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aima-dev/aima/state"
)

// hostGPUs is .aima/.local/gpus.json: the GPU counts of this boot.
type hostGPUs struct {
	Boot string `json:"boot"`
	GPUs int    `json:"gpus"`
	AMD  int    `json:"amd,omitempty"`
}

// bootID identifies this boot of the machine ("" where it cannot be read).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// CachedHost is the host's GPUs (DetectGPUs, DetectAMDGPUs) remembered
// per boot in dir/.local/gpus.json: nvidia-smi takes tens of milliseconds
// on a GPU machine, too long for every `aima diff`, and GPUs do not come
// and go while the machine is up. refresh asks again (the agent does at
// start).
func CachedHost(dir string, refresh bool) Host {
	path := filepath.Join(dir, ".local", "gpus.json")
	boot := bootID()
	if !refresh && boot != "" {
		var c hostGPUs
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &c) == nil && c.Boot == boot {
			return Host{GPUs: c.GPUs, AMDGPUs: c.AMD}
		}
	}
	h := Host{GPUs: DetectGPUs(), AMDGPUs: DetectAMDGPUs()}
	if _, err := os.Stat(dir); err == nil && boot != "" { // never creates the state directory
		if b, err := json.Marshal(hostGPUs{Boot: boot, GPUs: h.GPUs, AMD: h.AMDGPUs}); err == nil {
			_ = os.MkdirAll(filepath.Dir(path), 0o755)
			_ = state.WriteFile(path, append(b, '\n'))
		}
	}
	return h
}

// DetectAMDGPUs counts the GPUs the ROCm kernel driver (amdkfd) lists in
// sysfs, as ROCm itself finds them: the topology nodes with a gpu_id
// (CPU nodes have 0); 0 when there is no /dev/kfd.
func DetectAMDGPUs() int {
	if _, err := os.Stat("/dev/kfd"); err != nil {
		return 0
	}
	nodes, _ := filepath.Glob("/sys/class/kfd/kfd/topology/nodes/*/gpu_id")
	n := 0
	for _, f := range nodes {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) != "0" {
			n++
		}
	}
	return n
}

// DetectGPUs counts the NVIDIA GPUs that nvidia-smi lists; 0 when there is
// no nvidia-smi or it fails (a machine without a GPU is a normal answer).
func DetectGPUs() int {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-L").Output()
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "GPU ") {
			n++
		}
	}
	return n
}
