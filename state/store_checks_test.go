package state_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestStoreChecksAreItsOwn: the checks whose facts live above state (which
// units exist, what is in use) are fields of the store they apply to, not
// globals an import sets: a store with them refuses, one without does not.
func TestStoreChecksAreItsOwn(t *testing.T) {
	p := &state.Pipeline{Name: "p", Steps: []state.Step{{ID: "ok", Unit: "model.list"}, {ID: "typo", Unit: "model.lsit"}}}

	checked := testenv.NewStore(t)
	checked.UnitExists = func(name string) bool { return name == "model.list" }
	_, err := checked.Create(state.KindPipeline, p)
	if want := `/steps/1/unit: step "typo": unknown unit "model.lsit"`; !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("create with an unknown unit: %v; want invalid, %s", err, want)
	}
	// A view of the store (a request's author) checks the same.
	if _, err := checked.As(checked.Author).Create(state.KindPipeline, p); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("create through a view: %v; want invalid", err)
	}

	plain := testenv.NewStore(t)
	if _, err := plain.Create(state.KindPipeline, p); err != nil {
		t.Errorf("a store without UnitExists checks units by their pattern only; create: %v", err)
	}
	if err := plain.Delete(state.KindPipeline, "p", ""); err != nil {
		t.Errorf("a store without InUse: delete: %v", err)
	}

	p = &state.Pipeline{Name: "p", Steps: []state.Step{{ID: "ok", Unit: "model.list"}}}
	if _, err := checked.Create(state.KindPipeline, p); err != nil {
		t.Fatal(err)
	}
	var asked []string
	checked.InUse = func(dir string, k *state.Kind, name string) error {
		asked = append(asked, k.Name+"/"+name)
		if dir != checked.Dir {
			t.Errorf("InUse asked about %s, want %s", dir, checked.Dir)
		}
		return fmt.Errorf("%w: %s %q runs", state.ErrConflict, k.Name, name)
	}
	if err := checked.Delete(state.KindPipeline, "p", ""); !errors.Is(err, state.ErrConflict) {
		t.Errorf("delete of what InUse refuses: %v; want a conflict", err)
	}
	if len(asked) != 1 || asked[0] != "pipeline/p" {
		t.Errorf("InUse asked about %v, want [pipeline/p]", asked)
	}
	if !checked.Exists(state.KindPipeline, "p") {
		t.Errorf("a refused delete removed the file")
	}
}
