package state_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aima-dev/aima/state"
)

// TestStepParamLooksLikeReference: a step parameter written like a
// reference that is not one (${mk.name}: a run would pass it on as text)
// is refused when the pipeline is written, naming the step and the
// parameter; references to the input, to earlier steps and secret
// references are accepted.
func TestStepParamLooksLikeReference(t *testing.T) {
	for _, tc := range []struct{ name, params, want string }{
		{"step id without steps.", `{name: "${mk.name}"}`, `/steps/1/params/name: step "use", parameter "name": ${mk.name} is not a reference`},
		{"inside a longer string", `{message: "hello ${imput.who}!"}`, `/steps/1/params/message: step "use", parameter "message": ${imput.who} is not a reference`},
		{"nested", `{env: {MODE: "${input}"}}`, `/steps/1/params/env/MODE: step "use", parameter "env/MODE": ${input} is not a reference`},
		{"in a list", `{args: [ok, "${steps.}"]}`, `/steps/1/params/args/1: step "use", parameter "args/1": ${steps.} is not a reference`},
		{"empty", `{x: "${}"}`, `parameter "x": ${} is not a reference`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "name: p\nsteps:\n  - {id: mk, unit: model.list}\n  - {id: use, unit: model.list, depends_on: [mk], params: " + tc.params + "}\n"
			_, err := state.KindPipeline.Decode("pipelines/p.yaml", []byte(yaml))
			if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an invalid error containing %s", err, tc.want)
			}
		})
	}
	for _, params := range []string{
		`{name: "${steps.mk.items.0.name}", who: "${input.who}", all: "${steps.mk}"}`,
		`{env: {HF_TOKEN: "${env:HF_TOKEN}", KEY: "${file:key}"}}`,
		`{text: "costs $5, {braces} and $HOME"}`,
	} {
		yaml := "name: p\nsteps:\n  - {id: mk, unit: model.list}\n  - {id: use, unit: model.list, depends_on: [mk], params: " + params + "}\n"
		if _, err := state.KindPipeline.Decode("pipelines/p.yaml", []byte(yaml)); err != nil {
			t.Errorf("params %s: %v", params, err)
		}
	}
	// ${steps.ID} without a field needs ID among the steps it depends on.
	yaml := "name: p\nsteps:\n  - {id: mk, unit: model.list}\n  - {id: use, unit: model.list, params: {all: \"${steps.mk}\"}}\n"
	if _, err := state.KindPipeline.Decode("pipelines/p.yaml", []byte(yaml)); err == nil || !strings.Contains(err.Error(), `"mk" is not among the steps it depends on`) {
		t.Errorf("${steps.mk} without depends_on: %v", err)
	}
}
