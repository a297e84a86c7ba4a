package state_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/state"
)

// TestLocalRuntime: the runtime settings round-trip through
// .local/settings.yaml, keep the other settings, and a bad value is an
// error naming the file and the field.
func TestLocalRuntime(t *testing.T) {
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetLocalHost("gpu-1"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetLocalRuntime("kubernetes", "/etc/rancher/k3s/k3s.yaml", "ai"); err != nil {
		t.Fatal(err)
	}
	ls, err := st.LocalSettings()
	if err != nil {
		t.Fatal(err)
	}
	if ls.Host != "gpu-1" || ls.Runtime != "kubernetes" || ls.Kubeconfig != "/etc/rancher/k3s/k3s.yaml" || ls.Namespace != "ai" {
		t.Errorf("local settings %+v", ls)
	}
	for _, tc := range []struct{ runtime, kubeconfig, namespace, want string }{
		{"podman", "", "", `runtime: "podman" is not one of docker, kubernetes`},
		{"docker", "/k", "", "kubeconfig and namespace are settings of runtime: kubernetes"},
		{"kubernetes", "", "my_ns", `namespace: "my_ns" is not a Kubernetes namespace name`},
	} {
		err := st.SetLocalRuntime(tc.runtime, tc.kubeconfig, tc.namespace)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetLocalRuntime(%q, %q, %q) = %v, want %q", tc.runtime, tc.kubeconfig, tc.namespace, err, tc.want)
		}
	}
	// Written by hand: refused when read.
	path := filepath.Join(st.Dir, filepath.FromSlash(state.LocalSettingsPath))
	if err := os.WriteFile(path, []byte("runtime: kubernetess\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LocalSettings(); err == nil || !strings.Contains(err.Error(), state.LocalSettingsPath+": runtime") {
		t.Errorf("LocalSettings of a misspelt runtime: %v", err)
	}
}
