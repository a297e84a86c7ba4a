package agent

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

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
