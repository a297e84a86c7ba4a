package alert

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Host reads the machine's metrics: /proc for memory, CPU and load, and
// nvidia-smi for GPUs when it exists.
type Host struct {
	mu         sync.Mutex
	busy, all  uint64 // previous /proc/stat totals, for cpu_pct
	nvidiaPath string
	checked    bool
}

// Metrics returns the host metrics available now.
func (h *Host) Metrics(ctx context.Context) map[string]float64 {
	m := map[string]float64{}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mi := meminfo(b)
		if total := mi["MemTotal"]; total > 0 {
			avail := mi["MemAvailable"]
			m["mem_used_pct"] = 100 * float64(total-avail) / float64(total)
			m["mem_available_gb"] = float64(avail) / (1 << 20) // kB → GB
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				m["load1"] = v
			}
		}
	}
	if busy, all, ok := procStat(); ok {
		h.mu.Lock()
		if h.all > 0 && all > h.all {
			m["cpu_pct"] = 100 * float64(busy-h.busy) / float64(all-h.all)
		}
		h.busy, h.all = busy, all
		h.mu.Unlock()
	}
	for k, v := range h.gpus(ctx) {
		m[k] = v
	}
	return m
}

func meminfo(b []byte) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			out[k] = n
		}
	}
	return out
}

func procStat() (busy, all uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		all += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, all, true
}

// gpus reads the hottest, busiest and fullest NVIDIA GPU; nothing without one.
func (h *Host) gpus(ctx context.Context) map[string]float64 {
	h.mu.Lock()
	if !h.checked {
		h.nvidiaPath, _ = exec.LookPath("nvidia-smi")
		h.checked = true
	}
	path := h.nvidiaPath
	h.mu.Unlock()
	if path == "" {
		return map[string]float64{"gpu_count": 0}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=temperature.gpu,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return nil
	}
	m := map[string]float64{}
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		f := strings.Split(string(line), ",")
		if len(f) != 4 {
			continue
		}
		vals := make([]float64, 4)
		for i := range f {
			vals[i], _ = strconv.ParseFloat(strings.TrimSpace(f[i]), 64)
		}
		n++
		m["gpu_temp"] = max(m["gpu_temp"], vals[0])
		m["gpu_util"] = max(m["gpu_util"], vals[1])
		if vals[3] > 0 {
			m["gpu_mem_used_pct"] = max(m["gpu_mem_used_pct"], 100*vals[2]/vals[3])
		}
	}
	m["gpu_count"] = float64(n)
	return m
}
