package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/catalog"
	"github.com/aima-dev/aima/agent/device"
)

// TestDeviceAndHostLines: aima device detect and catalog match name a GPU
// with its vendor once (nvidia-smi's names start with it) and its memory
// in whole GB (24564 MiB is a 24 GB card, not 23.98828125).
func TestDeviceAndHostLines(t *testing.T) {
	d := device.Device{OS: "linux", Arch: "amd64", CPUs: 8, MemoryTotalMB: 64219, MemoryAvailMB: 60000,
		GPUs: device.ParseNvidiaSMI([]byte("0, NVIDIA GeForce RTX 4090, GPU-abc, 24564, 1024, 23540, 7, 41, 550.54\n"))}
	d.GPU = device.Summary(d.GPUs)
	b, _ := json.Marshal(d)
	var out map[string]any // as the API and the unit answer it
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var w strings.Builder
	printDevice(&w, out)
	for _, want := range []string{
		"gpu:     1 x NVIDIA GeForce RTX 4090\n",
		"  [0] NVIDIA GeForce RTX 4090, 24 GB (23.0 GB free)\n",
		"memory:  62.7 GB (58.6 GB available)\n",
	} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("device detect does not say %q:\n%s", want, w.String())
		}
	}
	if strings.Contains(w.String(), "NVIDIA NVIDIA") {
		t.Errorf("vendor twice:\n%s", w.String())
	}
	for h, want := range map[catalog.Host]string{
		catalog.HostOf(d): "NVIDIA GeForce RTX 4090 (24 GB, ada), linux",
		{GPUVendor: "NVIDIA", GPUModel: "RTX 3090", VRAMGB: 23.5, OS: "linux"}: "NVIDIA RTX 3090 (23.5 GB), linux",
		{GPUVendor: "none", OS: "linux"}:                                       "no GPU, linux",
	} {
		if got := describeHost(h); got != want {
			t.Errorf("describeHost(%+v) = %q, want %q", h, got, want)
		}
	}
}
