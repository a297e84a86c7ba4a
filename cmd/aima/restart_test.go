package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/state"
)

// The request bodies of the scenario (shared/scenarios/restart-survival.md),
// sent verbatim.
var scenarioBodies = []struct{ path, body string }{
	{"/api/catalog/create", `{"name": "restart-test-recipe", "engine_type": "vllm", "hardware": {"gpu_vendor": "NVIDIA"}, "config": {}}`},
	{"/api/skill/create", `{"name": "restart-test-skill", "description": "Test skill for restart survival", "keywords": ["restart", "test"], "category": "testing", "content": "test content"}`},
	{"/api/pipeline/create", `{"name": "restart-test-pipeline", "steps": [{"id": "step1", "unit": "model.list", "depends_on": []}]}`},
	{"/api/alert/create", `{"name": "restart-test-alert", "condition": "gpu_temp > 80", "action": "notify"}`},
}

// TestRestartSurvival is the restart-survival acceptance scenario: data in
// every domain, kill -9 of the agent, restart, and the ten success criteria.
func TestRestartSurvival(t *testing.T) {
	e := newAimaEnv(t, 20)
	agent := e.startAgent()

	// Phase 1: create data in every domain, with the scenario's commands.
	// wantCommits are the commit subjects phase 1 must produce, one per change.
	wantCommits := []string{"init: state directory"}
	e.mustAima("model", "create", "--name", "restart-test-model", "--source", "ollama", "--repo", "tinyllama")
	wantCommits = append(wantCommits, "model create: restart-test-model")
	modelID := ""
	for _, it := range items(t, "aima model list", []byte(e.mustAima("model", "list", "--output", "json"))) {
		if it["name"] == "restart-test-model" {
			modelID, _ = it["id"].(string)
		}
	}
	if modelID == "" {
		t.Fatal("aima model list --output json: no item named restart-test-model with an id")
	}
	created := regexp.MustCompile(`^service/(\S+) created \(port (\d+)\)\n$`)
	vllmOut := e.mustAima("service", "create", "--model-id", modelID, "--engine-type", "vllm")
	stubOut := e.mustAima("service", "create", "--model-id", modelID, "--engine-type", "stub")
	vm, sm := created.FindStringSubmatch(vllmOut), created.FindStringSubmatch(stubOut)
	if vm == nil || sm == nil {
		t.Fatalf("service create output: %q, %q; want \"service/NAME created (port N)\"", vllmOut, stubOut)
	}
	vllmSvc, stubSvc := vm[1], sm[1]
	wantCommits = append(wantCommits, "service create: "+vllmSvc, "service create: "+stubSvc)
	if engines := e.mustAima("engine", "list"); !strings.Contains(engines, "vllm") || !strings.Contains(engines, "stub") {
		t.Errorf("aima engine list does not show vllm and stub:\n%s", engines)
	}
	for _, b := range scenarioBodies {
		code, body, err := e.call("POST", b.path, b.body)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("POST %s: %d %v %s", b.path, code, err, body)
		}
		kind := strings.Split(b.path, "/")[2]
		wantCommits = append(wantCommits, kind+" create: restart-test-"+map[string]string{"catalog": "recipe", "skill": "skill", "pipeline": "pipeline", "alert": "alert"}[kind])
	}
	e.mustCall("POST", "/api/engine/update", `{"name": "vllm", "image": "vllm/vllm-openai:v0.9.0"}`, http.StatusOK)
	wantCommits = append(wantCommits, "engine update: vllm")
	e.mustAima("resource", "create", "--name", "restart-test-slot", "--type", "gpu_memory", "--limit", "24g", "--applies-to", stubSvc)
	wantCommits = append(wantCommits, "resource create: restart-test-slot")

	stubBefore := e.waitStatus(stubSvc, "running", 60*time.Second)
	vllmBefore := e.waitStatus(vllmSvc, "failed", 30*time.Second)
	if r, _ := vllmBefore["reason"].(string); !strings.Contains(r, "GPU") {
		t.Errorf("vLLM service failed without a clear reason (want it to name the GPU): %q", r)
	}
	stubC := e.serviceContainer(stubSvc)
	if stubC == nil || stubC.State != container.StateRunning {
		t.Fatalf("before the crash: no running container for %s: %s", stubSvc, describe(e.containers()))
	}

	kinds := make([]string, len(state.Kinds))
	for i, k := range state.Kinds {
		kinds[i] = k.Name
	}
	before := map[string][2][]map[string]any{}
	for _, k := range kinds {
		before[k] = [2][]map[string]any{desired(e.cliList(k)), desired(e.apiList(k))}
	}

	// Phase 2: crash and restart.
	agent.kill()
	c3, err := e.docker.ContainerInspect(context.Background(), stubC.ID)
	containerUp := err == nil && c3.State.Running
	agent = e.startAgent()

	// Phase 3: check.
	var results []string
	check := func(n int, what string, ok bool, detail string, args ...any) {
		t.Helper()
		verdict := "PASS"
		if !ok {
			verdict = "FAIL"
			t.Errorf("criterion %d (%s): "+detail, append([]any{n, what}, args...)...)
		}
		results = append(results, fmt.Sprintf("%-4s %2d  %s", verdict, n, what))
	}

	after := map[string][2][]map[string]any{}
	for _, k := range kinds {
		after[k] = [2][]map[string]any{desired(e.cliList(k)), desired(e.apiList(k))}
	}
	survived := map[string]bool{}
	for _, k := range kinds {
		d := cmp.Diff(before[k][0], after[k][0]) + cmp.Diff(before[k][1], after[k][1])
		survived[k] = d == ""
		if d != "" {
			t.Errorf("%s lists differ after the restart (-before +after):\n%s", k, d)
		}
	}
	has := func(kind, name string) bool { _, ok := byName(after[kind][1])[name]; return ok }

	check(1, "models survive", survived["model"] && has("model", "restart-test-model"), "model list: %v", after["model"][1])

	// The first status read after the restart must already be the truth:
	// no "creating" or "pending" for a container that kept running.
	sts, err := e.serviceStatuses()
	if err != nil {
		t.Fatal(err)
	}
	first := sts[stubSvc]["status"]
	stubAfter := e.waitStatus(stubSvc, "running", 15*time.Second)
	vllmAfter := sts[vllmSvc]
	stubC2 := e.serviceContainer(stubSvc)
	check(2, "services survive with the status Docker has", survived["service"] &&
		(first == "running" || first == "starting") &&
		stubAfter["port"] == stubBefore["port"] && stubAfter["container"] == stubBefore["container"] &&
		stubC2 != nil && stubC2.ID == stubC.ID &&
		vllmAfter["status"] == "failed" && vllmAfter["reason"] != "",
		"first status %v; stub after %v (before %v); container %s (before %s); vllm %v",
		first, stubAfter, stubBefore, describe(e.containers()), stubC.ID[:12], vllmAfter)

	check(3, "containers keep running while aima is down", containerUp, "inspect %s while the agent was down: %v %+v", stubC.ID[:12], err, c3.State)

	eng := byName(after["engine"][1])
	var missing []string
	for _, b := range state.Builtins(state.KindEngine) {
		if eng[b.Object.ObjectName()] == nil {
			missing = append(missing, b.Object.ObjectName())
		}
	}
	check(5, "engines all there; the API edit kept", survived["engine"] && len(missing) == 0 &&
		eng["vllm"]["image"] == "vllm/vllm-openai:v0.9.0" && eng["vllm"]["source"] == state.SourceFile &&
		eng["stub"]["source"] == state.SourceBuiltin,
		"missing built-ins %v; vllm %v", missing, eng["vllm"])

	check(6, "catalog recipes survive", survived["catalog"] && has("catalog", "restart-test-recipe"), "catalog list: %v", after["catalog"][1])

	skills := after["skill"][1]
	userSkills := 0
	for _, s := range skills {
		if s["name"] == "restart-test-skill" {
			userSkills++
		}
	}
	missing = nil
	for _, b := range state.Builtins(state.KindSkill) {
		if !has("skill", b.Object.ObjectName()) {
			missing = append(missing, b.Object.ObjectName())
		}
	}
	sk := byName(skills)["restart-test-skill"]
	check(7, "skills survive, built-ins there, user skill not duplicated", survived["skill"] && userSkills == 1 && len(missing) == 0 &&
		sk["content"] == "test content" && sk["source"] == state.SourceFile,
		"user skill %d times (%v); missing built-ins %v", userSkills, sk, missing)

	check(8, "pipelines, alert rules and resource slots survive",
		survived["pipeline"] && survived["alert"] && survived["resource"] &&
			has("pipeline", "restart-test-pipeline") && has("alert", "restart-test-alert") && has("resource", "restart-test-slot"),
		"pipelines %v; alerts %v; resources %v", after["pipeline"][1], after["alert"][1], after["resource"][1])

	// Criterion 10 is about phase 1, so it is read before phase 3 changes
	// anything.
	logOut := e.mustGit("log", "--format=%s")
	gotCommits := strings.Split(strings.TrimSpace(logOut), "\n")
	slices.Reverse(gotCommits)
	status, _ := e.git("status", "--porcelain", "--untracked-files=all")
	fsck, fsckErr := e.git("fsck", "--no-progress")
	check(10, "one commit per phase-1 change; git status clean; git fsck silent",
		cmp.Equal(gotCommits, wantCommits) && status == "" && fsck == "" && fsckErr == nil,
		"commits (-want +got):\n%s\nstatus: %q\nfsck: %v %q", cmp.Diff(wantCommits, gotCommits), status, fsckErr, fsck)

	// Criterion 9: a new service while the surviving container holds its port.
	out := e.mustAima("service", "create", "--model-id", modelID, "--engine-type", "stub")
	nm := created.FindStringSubmatch(out)
	if nm == nil {
		t.Fatalf("service create: %q", out)
	}
	newSvc := nm[1]
	newRunning := e.waitStatus(newSvc, "running", 60*time.Second)
	check(9, "a new service gets a port no surviving container holds",
		nm[2] != fmt.Sprint(stubBefore["port"]) && nm[2] != fmt.Sprint(vllmBefore["port"]) && newRunning["status"] == "running",
		"new service %s port %s; surviving ports %v and %v", newSvc, nm[2], stubBefore["port"], vllmBefore["port"])

	stopOut, stopErr, code := e.aima("service", "stop", stubSvc)
	_, ierr := e.docker.ContainerInspect(context.Background(), stubC.ID)
	byNameLeft := e.containersNamed("aima-" + stubSvc)
	check(4, "aima service stop works after the restart and removes the container",
		code == 0 && cerrdefs.IsNotFound(ierr) && len(byNameLeft) == 0,
		"exit %d: %s%s; inspect: %v; containers named aima-%s: %s", code, stopOut, stopErr, ierr, stubSvc, describe(byNameLeft))
	if c := e.serviceContainer(newSvc); c == nil || c.State != container.StateRunning {
		t.Errorf("stopping %s touched %s: %s", stubSvc, newSvc, describe(e.containers()))
	}
	e.checkGit(false)

	slices.Sort(results)
	t.Logf("restart survival criteria:\n%s", strings.Join(results, "\n"))
	var table []string
	for _, k := range kinds {
		v := "survived"
		if !survived[k] {
			v = "CHANGED"
		}
		table = append(table, fmt.Sprintf("%-9s %3d objects  %s", k, len(after[k][1]), v))
	}
	t.Logf("domains after kill -9 and restart:\n%s", strings.Join(table, "\n"))
}

// serviceContainer returns the instance's container of a service, or nil.
func (e *aimaEnv) serviceContainer(name string) *container.Summary {
	e.t.Helper()
	var found *container.Summary
	for _, c := range e.containers() {
		if c.Labels["aima.kind"] == "service" && c.Labels["aima.name"] == name {
			if found != nil {
				e.t.Fatalf("two containers for service %s: %s", name, describe(e.containers()))
			}
			found = &c
		}
	}
	return found
}

// containersNamed lists every container (any instance) with exactly that name.
func (e *aimaEnv) containersNamed(name string) []container.Summary {
	e.t.Helper()
	list, err := e.docker.ContainerList(context.Background(), container.ListOptions{
		All: true, Filters: filters.NewArgs(filters.Arg("name", "^/"+name+"$")),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}
