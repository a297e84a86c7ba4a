package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent"
)

// TestCachedHost: the GPU counts is remembered per boot in .local/gpus.json
// (a cached count is used as it is), refreshed on request, and a missing
// state directory is never created for it.
func TestCachedHost(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".local", "gpus.json")
	n := agent.CachedHost(dir, true).GPUs
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no boot id on this machine: %v", err)
	}
	if !strings.Contains(string(b), fmt.Sprintf(`"gpus":%d`, n)) {
		t.Fatalf("cache %s, want %d gpus", b, n)
	}
	// A cached answer is used without asking nvidia-smi.
	os.WriteFile(path, []byte(strings.Replace(string(b), fmt.Sprintf(`"gpus":%d`, n), `"gpus":7`, 1)), 0o644)
	if got := agent.CachedHost(dir, false).GPUs; got != 7 {
		t.Errorf("cached count not used: %d", got)
	}
	if got := agent.CachedHost(dir, true).GPUs; got != n {
		t.Errorf("refresh gave %d, want %d", got, n)
	}
	// Another boot's answer is not used.
	os.WriteFile(path, []byte(`{"boot":"another-boot","gpus":7}`), 0o644)
	if got := agent.CachedHost(dir, false).GPUs; got != n {
		t.Errorf("another boot's count used: %d", got)
	}
	missing := filepath.Join(dir, "nope")
	agent.CachedHost(missing, false)
	if _, err := os.Stat(missing); err == nil {
		t.Error("the state directory was created")
	}
}
