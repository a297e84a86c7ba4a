package daemon_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/pipeline"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestOpenStoreWiresChecks: a store opened for a door (daemon.OpenStore)
// refuses a pipeline step naming no unit of the registry and the delete of
// a pipeline that has an active run. The same directory opened with
// state.Open, in this test binary that imports agent/unit and
// agent/pipeline, checks neither: nothing is set by an import.
func TestOpenStoreWiresChecks(t *testing.T) {
	dir := testenv.NewStore(t).Dir
	st, err := daemon.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	typo := &state.Pipeline{Name: "typo", Steps: []state.Step{{ID: "a", Unit: "model.lsit"}}}
	if _, err := st.Create(state.KindPipeline, typo); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), `unknown unit "model.lsit"`) {
		t.Errorf("create with an unknown unit: %v; want invalid naming it", err)
	}
	plain, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if plain.UnitExists != nil || plain.InUse != nil {
		t.Fatalf("state.Open set checks of a door: importing a package wired them")
	}

	// A run in progress: model.list (a unit of the registry, so the file
	// is valid) blocks in the runner's own registry until released.
	if _, err := st.Create(state.KindPipeline, &state.Pipeline{Name: "slow", Steps: []state.Step{{ID: "a", Unit: "model.list"}}}); err != nil {
		t.Fatal(err)
	}
	began, release := make(chan struct{}), make(chan struct{})
	reg := unit.NewRegistry()
	reg.Add(unit.Unit{Name: "model.list", Run: func(ctx context.Context, _ *unit.Env, _ map[string]any) (map[string]any, error) {
		close(began)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return map[string]any{}, nil
	}})
	r := pipeline.New(&unit.Env{Store: st}, reg)
	run, done, err := r.Start(context.Background(), "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-began
	if err := st.Delete(state.KindPipeline, "slow", ""); !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), run.ID) {
		t.Errorf("delete while it runs: %v; want a conflict naming run %s", err, run.ID)
	}
	close(release)
	<-done
	if err := st.Delete(state.KindPipeline, "slow", ""); err != nil {
		t.Errorf("delete after the run: %v", err)
	}
}
