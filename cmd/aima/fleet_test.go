package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/internal/testenv"
)

// TestFleet: three agents on one Docker daemon follow one bare repository,
// each its own instance and host. Services placed by host name and by host
// label run exactly where placed; one commit moves a service from h1 to h2
// (removed on h1, started on h2); `aima fleet status` from the publishing
// state directory reports every host and what it runs, then a stopped
// agent as unreachable.
func TestFleet(t *testing.T) {
	a := newAimaEnv(t, 6)
	bare := filepath.Join(t.TempDir(), "state.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v %s", err, out)
	}
	const token = "fleet-secret"
	hosts := []*aimaEnv{}
	for i, labels := range []string{"gpu=big", "gpu=small", "gpu=big"} {
		h := &aimaEnv{t: t, bin: a.bin, docker: a.docker, dir: filepath.Join(t.TempDir(), ".aima"),
			addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), home: t.TempDir()}
		name := fmt.Sprintf("h%d", i+1)
		a.mustAima("host", "create", "--name", name, "--url", "http://"+h.addr, "--labels", labels)
		hosts = append(hosts, h)
	}
	a.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	a.mustAima("service", "create", "--name", "s1", "--model-id", "tiny", "--engine-type", "stub", "--placement-hosts", "h1")
	a.mustAima("service", "create", "--name", "s2", "--model-id", "tiny", "--engine-type", "stub", "--placement-host-labels", "gpu=small")
	a.mustAima("service", "create", "--name", "s3", "--model-id", "tiny", "--engine-type", "stub", "--placement-hosts", "h3", "--placement-host-labels", "gpu=big")
	// A long resync: what the hosts do, they do on events (a pull, a
	// container of another host going), not on the periodic pass.
	settings, err := os.ReadFile(filepath.Join(a.dir, "aima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "aima.yaml"), []byte(strings.Replace(string(settings), "resync: 3s", "resync: 10m", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustAima("sync") // records the edit
	a.mustAima("remote", "add", "origin", "file://"+bare)
	a.mustAima("push")
	if err := os.WriteFile(filepath.Join(a.dir, ".local", "fleet.yaml"), []byte("tokens:\n  \"*\": "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	agents := []*agentProc{}
	for i, h := range hosts {
		h.mustAima("init", "--from", "file://"+bare, "--host", fmt.Sprintf("h%d", i+1))
		inst, err := os.ReadFile(filepath.Join(h.dir, ".local", "instance"))
		if err != nil {
			t.Fatal(err)
		}
		h.instance = strings.TrimSpace(string(inst))
		testenv.RemoveContainers(t, h.docker, h.instance)
		agents = append(agents, h.startAgentArgs([]string{"--follow", "origin/main", "--interval", "1s"}, "AIMA_TOKEN="+token))
	}
	// Each host runs exactly what is placed on it.
	want := map[int][]string{0: {"s1"}, 1: {"s2"}, 2: {"s3"}}
	runs := func(i int) []string {
		var out []string
		for _, s := range []string{"s1", "s2", "s3"} {
			for _, c := range hosts[i].containersNamed(hosts[i].cname(s)) {
				if c.State == "running" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	for i, h := range hosts {
		h.waitStatus(want[i][0], "running", 90*time.Second)
	}
	for i := range hosts {
		if got := runs(i); fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("h%d runs %v, want %v", i+1, got, want[i])
		}
	}
	if out, _, _ := hosts[0].aima("diff"); !strings.Contains(out, "(2 service(s) and app(s) placed on other hosts") {
		t.Errorf("h1's diff does not count what is placed elsewhere:\n%s", out)
	}
	if st := hosts[0].waitStatus("s2", "elsewhere", 10*time.Second); !strings.Contains(fmt.Sprint(st["reason"]), "labelled gpu=small") {
		t.Errorf("s2 on h1: %v", st)
	}

	// One commit moves s1 from h1 to h2: h2 starts it once h1's container
	// has gone (a Docker event), not at its next periodic pass.
	a.mustAima("service", "update", "s1", "--placement-hosts", "h2")
	a.mustAima("push")
	waitUntil(t, 60*time.Second, "s1 moved from h1 to h2", func() (bool, string) {
		return fmt.Sprint(runs(0)) == "[]" && fmt.Sprint(runs(1)) == "[s1 s2]", fmt.Sprintf("h1 %v, h2 %v", runs(0), runs(1))
	})

	// The fleet view, from the publishing directory.
	fleet := func() map[string]map[string]any {
		var out struct {
			Items []map[string]any
			Head  string
		}
		if err := json.Unmarshal([]byte(a.mustAima("fleet", "status", "-o", "json")), &out); err != nil {
			t.Fatal(err)
		}
		byName := map[string]map[string]any{}
		for _, h := range out.Items {
			byName[h["name"].(string)] = h
		}
		return byName
	}
	waitUntil(t, 30*time.Second, "every host reachable and in sync", func() (bool, string) {
		f := fleet()
		for _, n := range []string{"h1", "h2", "h3"} {
			if f[n]["reachable"] != true || f[n]["in_sync"] != true {
				return false, fmt.Sprint(f)
			}
		}
		objs := fmt.Sprint(f["h2"]["objects"])
		return strings.Contains(objs, "s1") && strings.Contains(objs, "s2"), objs
	})
	if text := a.mustAima("fleet", "status"); !strings.Contains(text, "in sync") || !strings.Contains(text, "service/s3") {
		t.Errorf("fleet status table:\n%s", text)
	}
	agents[2].kill()
	f := fleet()
	if f["h3"]["reachable"] != false || f["h3"]["error"] == nil || f["h1"]["reachable"] != true {
		t.Errorf("after h3's agent stopped: h3 %v, h1 reachable %v", f["h3"], f["h1"]["reachable"])
	}
	if out := a.mustAima("fleet", "diff"); !strings.Contains(out, "unreachable") {
		t.Errorf("fleet diff:\n%s", out)
	}
}
