package agent_test

import (
	"errors"
	"testing"

	"github.com/aima-dev/aima/state"
)

// TestAppNamedVolume: a named volume (the default policy allows it) is
// mounted from this instance's own namespace, so a file naming another
// project's volume ("portainer_data") cannot reach it; a relative path is
// refused at write, naming the volume.
func TestAppNamedVolume(t *testing.T) {
	e := newFakeEnv(t)
	if _, err := e.st.Create(state.KindApp, &state.App{Name: "webui", Image: fakeStubTag, Volumes: []string{"portainer_data:/data", "cache:/cache:ro"}}); err != nil {
		t.Fatal(err)
	}
	pass(t, e.s)
	spec, err := e.rt.Spec(e.only(t).ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{e.instance + "_portainer_data:/data": false, e.instance + "_cache:/cache": true}
	if len(spec.Mounts) != len(want) {
		t.Fatalf("mounts %+v, want %v", spec.Mounts, want)
	}
	for _, m := range spec.Mounts {
		ro, ok := want[m.Source+":"+m.Target]
		if !ok || ro != m.ReadOnly {
			t.Errorf("mount %+v, want one of %v (value: read-only)", m, want)
		}
	}
	_, err = e.st.Create(state.KindApp, &state.App{Name: "rel", Image: fakeStubTag, Volumes: []string{"./data:/data"}})
	if !errors.Is(err, state.ErrInvalid) || state.Problems(err)[0].Field != "/volumes/0" {
		t.Errorf("relative volume source: %v, want invalid /volumes/0", err)
	}
}
