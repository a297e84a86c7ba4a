package container_test

import (
	"testing"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/stub"
)

// TestLabelledAndOwned: which containers List returns (any aima label, but
// not only the stub image's own) and which of them are an instance's.
func TestLabelledAndOwned(t *testing.T) {
	for _, tc := range []struct {
		name     string
		labels   map[string]string
		labelled bool
		owned    bool // by instance "box1"
	}{
		{"ours", map[string]string{"aima.managed": "true", "aima.instance": "box1", "aima.kind": "service"}, true, true},
		{"another instance", map[string]string{"aima.managed": "true", "aima.instance": "box2"}, true, false},
		{"our instance without aima.managed", map[string]string{"aima.instance": "box1"}, true, false},
		{"aima.managed=false", map[string]string{"aima.managed": "false", "aima.instance": "box1"}, true, false},
		{"only aima.engine", map[string]string{"aima.engine": "vllm"}, true, false},
		{"the stub image's labels only", map[string]string{stub.LabelStub: "true", stub.LabelBinary: "abc"}, false, false},
		{"no aima label", map[string]string{"com.example": "x", "aimaz": "y"}, false, false},
		{"none", nil, false, false},
	} {
		if got := container.Labelled(tc.labels); got != tc.labelled {
			t.Errorf("%s: Labelled = %v, want %v", tc.name, got, tc.labelled)
		}
		if got := container.Owned(tc.labels, "box1"); got != tc.owned {
			t.Errorf("%s: Owned = %v, want %v", tc.name, got, tc.owned)
		}
	}
	if container.Owned(map[string]string{"aima.managed": "true", "aima.instance": ""}, "") {
		t.Errorf("Owned with an empty instance")
	}
}
