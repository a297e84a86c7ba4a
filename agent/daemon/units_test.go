package daemon_test

// The units (package unit) on a Syncer over the in-memory runtime: a
// pipeline that creates a model and a service, starts it and asks its
// status goes through the same SetState and sync pass as the CLI.

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/container/fake"
	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/pipeline"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

func TestUnitsPipelineOnFakeRuntime(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "aima.yaml"), []byte("format: 1\ninstance: aima-units-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	rt := fake.New()
	rt.AddImage("aima-stub:fake", "aima-stub: started\n")
	s := &agent.Syncer{
		Store: st, Runtime: rt, Instance: "aima-units-test", Prune: true,
		Host:      agent.Host{Env: func(string) (string, bool) { return "", false }},
		StubImage: func(context.Context) (string, error) { return "aima-stub:fake", nil },
	}
	env := daemon.UnitEnv(st, s, nil)

	p, err := state.KindPipeline.Decode("", []byte(`name: deploy
steps:
  - {id: model, unit: model.create, params: {name: "${input.model}", source: ollama, repo: tinyllama}}
  - {id: service, unit: service.create, depends_on: [model], params: {model: "${steps.model.name}", engine: stub}}
  - {id: start, unit: service.start, depends_on: [service], params: {name: "${steps.service.name}"}}
  - {id: status, unit: service.status, depends_on: [start], params: {name: "${steps.service.name}"}}
  - {id: models, unit: model.list, depends_on: [model]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(state.KindPipeline, p); err != nil {
		t.Fatal(err)
	}
	out, err := unit.Default.Call(context.Background(), env, "pipeline.run", map[string]any{"name": "deploy", "input": `{"model": "tiny"}`, "wait": true})
	if err != nil {
		t.Fatal(err)
	}
	if out["status"] != pipeline.StatusCompleted {
		t.Fatalf("run: %v", out)
	}
	outputs := map[string]map[string]any{}
	for _, s := range out["steps"].([]any) {
		m := s.(map[string]any)
		outputs[m["id"].(string)], _ = m["output"].(map[string]any)
	}
	if outputs["service"]["name"] != "tiny-stub" || outputs["models"]["total"] != 1.0 {
		t.Errorf("service %v, models %v", outputs["service"], outputs["models"])
	}
	// The pass ran: the container exists, with the status derived from it.
	cs, err := rt.List(context.Background())
	if err != nil || len(cs) != 1 || cs[0].Labels["aima.name"] != "tiny-stub" {
		t.Fatalf("containers %+v, %v", cs, err)
	}
	if st := outputs["status"]["status"]; st != agent.StatusStarting && st != agent.StatusRunning {
		t.Errorf("status %v", outputs["status"])
	}
	// service.stop through the same unit stops it, and the file says so.
	if _, err := unit.Default.Call(context.Background(), env, "service.stop", map[string]any{"name": "tiny-stub", "wait": true, "timeout": "10s"}); err != nil {
		t.Fatal(err)
	}
	e, _ := st.Get(state.KindService, "tiny-stub")
	if e.Object.(*state.Service).State != "stopped" {
		t.Errorf("file state %q", e.Object.(*state.Service).State)
	}
	rp, _ := st.Repo()
	log, _ := rp.Log("", 4)
	var msgs []string
	for _, c := range log {
		msgs = append(msgs, c.Message)
	}
	if diff := cmp.Diff([]string{"service stop: tiny-stub", "service create: tiny-stub", "model create: tiny", "pipeline create: deploy"}, msgs); diff != "" {
		t.Errorf("commits (-want +got):\n%s", diff)
	}
}
