package device

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseNvidiaSMI(t *testing.T) {
	out := "0, NVIDIA GeForce RTX 4090, GPU-abc, 24564, 1024, 23540, 7, 41, 550.54\n" +
		"1, NVIDIA GeForce RTX 4090, GPU-def, 24564, [N/A], 24564, [Not Supported], 38, 550.54\n"
	got := ParseNvidiaSMI([]byte(out))
	want := []GPU{
		{Index: 0, Vendor: "NVIDIA", Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-abc", MemoryTotalMB: 24564, MemoryUsedMB: 1024, MemoryFreeMB: 23540, Utilization: 7, Temperature: 41, Driver: "550.54"},
		{Index: 1, Vendor: "NVIDIA", Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-def", MemoryTotalMB: 24564, MemoryFreeMB: 24564, Temperature: 38, Driver: "550.54"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseNvidiaSMI (-want +got):\n%s", diff)
	}
	if s := Summary(got); s != "2 x NVIDIA GeForce RTX 4090" {
		t.Errorf("summary %q", s)
	}
	if s := Summary(nil); s != NoGPU {
		t.Errorf("summary of none %q", s)
	}
}

func TestParseROCmSMI(t *testing.T) {
	out := `{"card1": {"Card series": "Radeon RX 7900 XTX", "VRAM Total Memory (B)": "25753026560", "VRAM Total Used Memory (B)": "1073741824", "GPU use (%)": "3", "Temperature (Sensor edge) (C)": "45.0"},
	         "card0": {"Card Series": "AMD Instinct MI300X", "VRAM Total Memory (B)": "206158430208", "VRAM Total Used Memory (B)": "0"},
	         "system": {"Driver version": "6.7"}}`
	got, err := ParseROCmSMI([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []GPU{
		{Index: 0, Vendor: "AMD", Name: "AMD Instinct MI300X", MemoryTotalMB: 196608, MemoryFreeMB: 196608},
		{Index: 1, Vendor: "AMD", Name: "Radeon RX 7900 XTX", MemoryTotalMB: 24560, MemoryUsedMB: 1024, MemoryFreeMB: 23536, Utilization: 3, Temperature: 45},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseROCmSMI (-want +got):\n%s", diff)
	}
	if s := Summary(got); s != "1 x AMD Instinct MI300X, 1 x AMD Radeon RX 7900 XTX" {
		t.Errorf("summary %q", s)
	}
	if _, err := ParseROCmSMI([]byte("WARNING: no devices")); err == nil {
		t.Errorf("garbage accepted")
	}
}

func TestProcParsing(t *testing.T) {
	if got := CPUModel([]byte("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n")); got != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("CPUModel %q", got)
	}
	mem := Meminfo([]byte("MemTotal:       16314680 kB\nMemFree:         1234 kB\nMemAvailable:    8000000 kB\n"))
	if mem["MemTotal"] != 16314680 || mem["MemAvailable"] != 8000000 {
		t.Errorf("Meminfo %v", mem)
	}
}

// TestDetectNoGPU runs the real detection on this machine, which has no
// GPU tools: the answer is a clean "no GPU", with CPU and memory filled in.
func TestDetectNoGPU(t *testing.T) {
	for _, tool := range []string{"nvidia-smi", "rocm-smi"} {
		if _, err := exec.LookPath(tool); err == nil {
			t.Skipf("%s is installed: this machine may have a GPU", tool)
		}
	}
	d := Detect(context.Background())
	if d.HasGPU() || d.GPU != NoGPU || d.GPUs == nil || len(d.GPUs) != 0 || d.VRAMGB() != 0 {
		t.Errorf("GPU %q, GPUs %v, VRAM %v; want a clean no-GPU answer", d.GPU, d.GPUs, d.VRAMGB())
	}
	if d.CPUs < 1 || d.OS == "" || d.Arch == "" || d.MemoryTotalMB <= 0 {
		t.Errorf("cpus %d os %q arch %q memory %d", d.CPUs, d.OS, d.Arch, d.MemoryTotalMB)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "no GPU") {
		t.Errorf("notes %q; want one saying there is no GPU", d.Notes)
	}
}

// TestGBAndLabel: GPU memory is shown in the whole GB a card is sold as
// (the tools report a little less), and the vendor is named once.
func TestGBAndLabel(t *testing.T) {
	for mib, want := range map[int64]float64{24564: 24, 40536: 40, 81559: 80, 49140: 48, 11019: 11, 8188: 8, 196608: 192, 0: 0, 512: 0.5} {
		if got := GB(mib); got != want {
			t.Errorf("GB(%d) = %v, want %v", mib, got, want)
		}
	}
	for _, tc := range []struct{ vendor, name, want string }{
		{"NVIDIA", "NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090"},
		{"NVIDIA", "Tesla T4", "NVIDIA Tesla T4"},
		{"AMD", "AMD Instinct MI300X", "AMD Instinct MI300X"},
		{"AMD", "Radeon RX 7900 XTX", "AMD Radeon RX 7900 XTX"},
		{"nvidia", "NVIDIA A100", "NVIDIA A100"},
		{"AMD", "AMDX 1", "AMD AMDX 1"},
		{"NVIDIA", "", "NVIDIA"},
	} {
		if got := Label(tc.vendor, tc.name); got != tc.want {
			t.Errorf("Label(%q, %q) = %q, want %q", tc.vendor, tc.name, got, tc.want)
		}
	}
	d := Device{GPUs: ParseNvidiaSMI([]byte("0, NVIDIA GeForce RTX 4090, GPU-abc, 24564, 1024, 23540, 7, 41, 550.54\n"))}
	if d.VRAMGB() != 24 {
		t.Errorf("VRAMGB of an RTX 4090 = %v, want 24", d.VRAMGB())
	}
}
