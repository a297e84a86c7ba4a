package state_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestRecordAllocatesPort: a service file written by hand without a port
// (an editor, cp) is given one when it is recorded — by the agent's
// watcher, its start-up repair, or aima sync — as `service create` gives
// it one: the lowest free port no other file claims, written into the
// file (keeping what was written) and committed with the edit.
func TestRecordAllocatesPort(t *testing.T) {
	st := testenv.NewStore(t)
	mustCreate(t, st, state.KindModel, &state.Model{Name: "m"})
	made := mustCreate(t, st, state.KindService, &state.Service{Name: "made", Model: "m", Engine: "stub"}).Object.(*state.Service)
	hand := map[string]string{
		// A block mapping keeps every byte and gets a port line at its end.
		"block": "# my service, written by hand\nname: block\nmodel: m   # the model\nengine: stub\nenv:\n  MODE: fast\n",
		// No trailing newline, keys indented.
		"indented": "  name: indented\n  model: m\n  engine: stub",
		// Flow style is re-encoded from its nodes.
		"flow": "{name: flow, model: m, engine: stub}\n",
	}
	for name, content := range hand {
		if err := os.WriteFile(filepath.Join(st.Dir, "services", name+".yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := st.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Problems) > 0 {
		t.Fatalf("problems: %v", rec.Problems)
	}
	ports := map[int]string{made.Port: "made"}
	for name, content := range hand {
		rel := "services/" + name + ".yaml"
		e, err := st.Get(state.KindService, name)
		if err != nil {
			t.Fatal(err)
		}
		p := e.Object.(*state.Service).Port
		if p == 0 || ports[p] != "" {
			t.Errorf("%s: port %d (taken by %q); want a free one", name, p, ports[p])
		}
		ports[p] = name
		if rec.Ports[rel] != p {
			t.Errorf("Recorded.Ports[%s] = %d, want %d", rel, rec.Ports[rel], p)
		}
		data, _ := os.ReadFile(filepath.Join(st.Dir, rel))
		if !strings.Contains(string(data), fmt.Sprintf("port: %d", p)) {
			t.Errorf("%s: port not written into the file:\n%s", name, data)
		}
		if name != "flow" && !strings.HasPrefix(string(data), strings.TrimRight(content, "\n")+"\n") {
			t.Errorf("%s: the file as written was not kept:\n%s\nwant it to start with:\n%s", name, data, content)
		}
		// Committed as it is on disk.
		if got := git(t, st.Dir, "show", "HEAD:"+rel); got != string(data) {
			t.Errorf("%s: committed\n%s\nbut the file is\n%s", name, got, data)
		}
	}
	if msg := git(t, st.Dir, "log", "-1", "--format=%B"); !strings.HasPrefix(msg, "edit: 3 files") || !strings.Contains(msg, "port ") || !strings.Contains(msg, "allocated for services/block.yaml") {
		t.Errorf("commit message:\n%s", msg)
	}
	if out := git(t, st.Dir, "status", "--porcelain"); out != "" {
		t.Errorf("git status after record:\n%s", out)
	}
	// Recorded once: the next record (the watcher seeing aima's own write)
	// changes nothing, and a restart never re-allocates.
	before := git(t, st.Dir, "rev-parse", "HEAD")
	if rec, err := st.Record(nil); err != nil || len(rec.Paths) > 0 || len(rec.Ports) > 0 {
		t.Errorf("second record: %+v, %v", rec, err)
	}
	if after := git(t, st.Dir, "rev-parse", "HEAD"); after != before {
		t.Errorf("second record committed")
	}
	// A hand edit that removes the port gets the same one back: no other
	// file claims it.
	block := filepath.Join(st.Dir, "services/block.yaml")
	old, _ := os.ReadFile(block)
	var kept []string
	for _, l := range strings.Split(string(old), "\n") {
		if !strings.HasPrefix(l, "port:") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(block, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Record([]string{"services/block.yaml"}); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(block); string(now) != string(old) {
		t.Errorf("port removed by hand and recorded again:\n%s\nwant\n%s", now, old)
	}
}
