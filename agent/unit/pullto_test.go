package unit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// TestModelPullToStaysInModelsDir: the model.pull unit, called directly and
// as POST /api/model/pull, writes only under the state directory's
// .local/models/. A `to` that is an absolute path elsewhere, climbs out
// with "..", is the models directory itself, or goes through a symbolic
// link leading out is refused naming to (422 through the API), and nothing
// is written or committed; relative, absolute-inside and default targets
// work.
func TestModelPullToStaysInModelsDir(t *testing.T) {
	env := newEnv(t)
	weights := "GGUF weights"
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, weights) }))
	defer src.Close()
	if _, err := env.Store.Create(state.KindModel, &state.Model{Name: "tiny", Source: "http", URL: src.URL + "/tiny.gguf"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Store: env.Store, Verbs: unit.Verbs(env, unit.Default)}).Handler())
	defer srv.Close()
	models := state.ModelsDir(env.Store.Dir)
	outside := t.TempDir()
	os.MkdirAll(models, 0o755)
	if err := os.Symlink(outside, filepath.Join(models, "link")); err != nil {
		t.Fatal(err)
	}
	head := func() string {
		out, err := exec.Command("git", "-C", env.Store.Dir, "rev-parse", "HEAD").CombinedOutput()
		if err != nil {
			t.Fatalf("git: %v %s", err, out)
		}
		return string(out)
	}
	before := head()
	// Every target a broken check would write to is in outside (a
	// temporary directory) or in the state directory, never elsewhere.
	climb, err := filepath.Rel(models, filepath.Join(outside, "climbed"))
	if err != nil {
		t.Fatal(err)
	}

	for _, to := range []string{
		outside,                                // absolute, elsewhere
		filepath.Join(outside, "tiny"),         // absolute, elsewhere, not there yet
		"../../services",                       // relative, climbing into the state directory
		climb,                                  // relative, climbing out
		filepath.Join(models, "..", "..", "x"), // absolute with ..
		models,                                 // the shared models directory itself
		".",                                    // the same, relatively
		"link",                                 // a link leading out
		"link/sub",                             // below a link leading out
		filepath.Join(models, "link", "sub"),   // the same, absolute
	} {
		_, err := unit.Default.Call(context.Background(), env, "model.pull", map[string]any{"name": "tiny", "to": to})
		var ie *state.InvalidError
		if !errors.As(err, &ie) || ie.Problems[0].Field != "/to" {
			t.Errorf("unit model.pull to %q: %v, want refused naming to", to, err)
		}
		body, _ := json.Marshal(map[string]any{"name": "tiny", "to": to})
		resp, err := http.Post(srv.URL+"/api/model/pull", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Error struct{ Details []state.Problem }
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || len(doc.Error.Details) != 1 || doc.Error.Details[0].Field != "/to" {
			t.Errorf("POST /api/model/pull to %q: %d %+v, want 422 naming to", to, resp.StatusCode, doc.Error.Details)
		}
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Errorf("a refused pull wrote outside: %v", des)
	}
	if _, err := os.Stat(filepath.Join(env.Store.Dir, "services", "tiny.gguf")); err == nil {
		t.Error("a refused pull wrote into the state directory")
	}
	if head() != before {
		t.Error("a refused pull committed")
	}

	// The legitimate targets: relative (from .local/models/), absolute
	// inside, and the default.
	for to, want := range map[string]string{
		"tiny-q4":                         filepath.Join(models, "tiny-q4", "tiny.gguf"),
		filepath.Join(models, "abs", "x"): filepath.Join(models, "abs", "x", "tiny.gguf"),
		"":                                filepath.Join(models, "tiny", "tiny.gguf"),
	} {
		out, err := unit.Default.Call(context.Background(), env, "model.pull", map[string]any{"name": "tiny", "to": to})
		if err != nil || out["path"] != want {
			t.Errorf("pull to %q: %v %v, want %s", to, out, err, want)
			continue
		}
		if b, err := os.ReadFile(want); err != nil || string(b) != weights {
			t.Errorf("pull to %q: %q %v", to, b, err)
		}
	}
	body := `{"name": "tiny", "to": "via-api"}`
	resp, err := http.Post(srv.URL+"/api/model/pull", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /api/model/pull into via-api: %d", resp.StatusCode)
	}
	if e, _ := env.Store.Get(state.KindModel, "tiny"); e.Object.(*state.Model).Path != filepath.Join(models, "via-api", "tiny.gguf") {
		t.Errorf("model path after the API pull: %q", e.Object.(*state.Model).Path)
	}
}
