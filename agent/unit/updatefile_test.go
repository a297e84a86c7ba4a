package unit_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// TestUpdateFile: <kind>.update with file replaces the object with the
// file's content (a field left out is gone), validated as a file is: a
// typo is a problem naming its line and field, and nothing changes.
func TestUpdateFile(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	call := func(unitName string, p map[string]any) (map[string]any, error) {
		return unit.Default.Call(ctx, env, unitName, p)
	}
	if _, err := call("model.create", map[string]any{"name": "tiny", "source": "ollama", "repo": "tinyllama", "tag": "q4"}); err != nil {
		t.Fatal(err)
	}
	out, err := call("model.update", map[string]any{"name": "tiny", "file": "name: tiny\nsource: ollama\nrepo: tinyllama-2\n"})
	if err != nil {
		t.Fatal(err)
	}
	if out["repo"] != "tinyllama-2" || out["tag"] != nil {
		t.Fatalf("after the file: %v; want repo tinyllama-2 and no tag", out)
	}

	_, err = call("model.update", map[string]any{"name": "tiny", "file": "name: tiny\nsource: ollama\ncolour: red\n"})
	probs := state.Problems(err)
	if !errors.Is(err, state.ErrInvalid) || len(probs) == 0 || probs[0].Line != 3 || !strings.Contains(probs[0].String(), "colour") {
		t.Fatalf("a typo: %v (%+v); want an invalid-file error naming line 3 and colour", err, probs)
	}
	for _, c := range []struct {
		what string
		p    map[string]any
	}{
		{"another object's name", map[string]any{"name": "tiny", "file": "name: other\nsource: ollama\n"}},
		{"a file and fields", map[string]any{"name": "tiny", "file": "name: tiny\n", "repo": "x"}},
		{"a file that is not text", map[string]any{"name": "tiny", "file": 42}},
	} {
		if _, err := call("model.update", c.p); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%s: %v; want an invalid request", c.what, err)
		}
	}
	got, err := call("model.get", map[string]any{"id": "tiny"})
	if err != nil || got["repo"] != "tinyllama-2" {
		t.Fatalf("after the refused updates: %v, %v; want it unchanged", got, err)
	}
}
