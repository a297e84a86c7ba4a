package api

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseNvidiaSMI(t *testing.T) {
	out := "0, NVIDIA GeForce RTX 4090, GPU-abc, 24564, 1024, 23540, 7, 41, 550.54\n" +
		"1, NVIDIA GeForce RTX 4090, GPU-def, 24564, [N/A], 24564, [Not Supported], 38, 550.54\n"
	got := parseNvidiaSMI([]byte(out))
	want := []GPU{
		{Index: 0, Vendor: "NVIDIA", Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-abc", MemoryTotalMB: 24564, MemoryUsedMB: 1024, MemoryFreeMB: 23540, Utilization: 7, Temperature: 41, Driver: "550.54"},
		{Index: 1, Vendor: "NVIDIA", Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-def", MemoryTotalMB: 24564, MemoryFreeMB: 24564, Temperature: 38, Driver: "550.54"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseNvidiaSMI (-want +got):\n%s", diff)
	}
	if s := gpuSummary(got); s != "2 x NVIDIA GeForce RTX 4090" {
		t.Errorf("summary %q", s)
	}
	if s := gpuSummary(nil); s != "none detected" {
		t.Errorf("summary of none %q", s)
	}
}

func TestProcParsing(t *testing.T) {
	if got := cpuModel([]byte("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n")); got != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("cpuModel %q", got)
	}
	mem := meminfo([]byte("MemTotal:       16314680 kB\nMemFree:         1234 kB\nMemAvailable:    8000000 kB\n"))
	if mem["MemTotal"] != 16314680 || mem["MemAvailable"] != 8000000 {
		t.Errorf("meminfo %v", mem)
	}
}

func TestLogPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"services/x.yaml":  "services/x.yaml",
		"service/x":        "services/x.yaml",
		"skill/s":          "skills/s.md",
		"alerts/":          "alerts/",
		"alert":            "alerts/",
		"aima.yaml":        "aima.yaml",
		"services/x.y.z":   "services/x.y.z.yaml",
		"models/../a.yaml": "a.yaml",
	} {
		got, err := logPath(in)
		if err != nil || got != want {
			t.Errorf("logPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := logPath("../outside"); err == nil {
		t.Errorf("logPath(../outside) accepted")
	}
}
