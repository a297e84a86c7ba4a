package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestCrashDuringSync kills the agent while it converges a burst of service
// creates and deletes, round after round, and checks that the restarted
// agent ends with exactly the desired containers: one per service file,
// running, and nothing else. It then leaves a service's container created
// but never started, and another's exited, as a crash between create and
// start (or a stop behind aima's back) would, and checks both converge to
// exactly one running container.
func TestCrashDuringSync(t *testing.T) {
	rng, seed, rounds := crashParams(t, 3)
	e := newAimaEnv(t, 30)
	e.mustAima("model", "create", "--name", "sync-model", "--source", "ollama", "--repo", "tinyllama")
	agent := e.startAgent()
	var current []string
	for round := range rounds {
		next := make([]string, 5)
		for i := range next {
			next[i] = fmt.Sprintf("sync-r%d-%d", round, i)
		}
		killAfter := time.Duration(rng.IntN(1500)) * time.Millisecond
		var wg sync.WaitGroup
		for _, old := range current {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, _ = e.call("POST", "/api/service/delete", fmt.Sprintf(`{"id": %q}`, old))
			}()
		}
		for _, n := range next {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, _ = e.call("POST", "/api/service/create", fmt.Sprintf(`{"name": %q, "model": "sync-model", "engine": "stub"}`, n))
			}()
		}
		time.Sleep(killAfter) // a random kill point, not synchronisation
		before := describe(e.containers())
		agent.kill()
		wg.Wait()
		t.Logf("round %d: killed %s into the burst; containers then: %s", round, killAfter, before)
		agent = e.startAgent()
		// The files are the desired state, whichever writes landed.
		current = nil
		for _, it := range e.apiList("service") {
			current = append(current, it["name"].(string))
		}
		e.waitExactly(current, fmt.Sprintf("round %d (kill after %s, containers then: %s; replay AIMA_CRASH_SEED=%d)", round, killAfter, before, seed))
	}

	// A container created but never started, and one that exited, while
	// the agent is down. An early kill may have left fewer than two
	// services: make up the difference (the agent is up).
	for i := 0; len(current) < 2; i++ {
		n := fmt.Sprintf("sync-extra-%d", i)
		e.mustCall("POST", "/api/service/create", fmt.Sprintf(`{"name": %q, "model": "sync-model", "engine": "stub"}`, n), http.StatusCreated)
		current = append(current, n)
	}
	e.waitExactly(current, "before the created/exited setup")
	agent.kill()
	ctx := context.Background()
	created, exited := current[0], current[1]
	c := e.serviceContainer(created)
	ins, err := e.docker.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.docker.ContainerCreate(ctx, ins.Config, ins.HostConfig, nil, nil, strings.TrimPrefix(ins.Name, "/")); err != nil {
		t.Fatal(err)
	}
	timeout := 0
	if err := e.docker.ContainerStop(ctx, e.serviceContainer(exited).ID, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	states := map[string]container.ContainerState{}
	for _, n := range []string{created, exited} {
		states[n] = e.serviceContainer(n).State
	}
	if states[created] != container.StateCreated || states[exited] != container.StateExited {
		t.Fatalf("setup: want created and exited, have %v", states)
	}
	e.startAgent()
	e.waitExactly(current, "after created-but-not-started and exited containers")
}

// waitExactly waits until the instance has exactly one running container
// per named service, and no other container, and the API says running for
// each. At no point may a service have two containers.
func (e *aimaEnv) waitExactly(services []string, what string) {
	e.t.Helper()
	sort.Strings(services)
	want := map[string]bool{}
	for _, s := range services {
		want[e.cname(s)] = true
	}
	waitUntil(e.t, 60*time.Second, what+": exactly one running container per service", func() (bool, string) {
		list := e.containers()
		per := map[string]int{}
		var bad []string
		for _, c := range list {
			n := c.Labels["aima.name"]
			per[n]++
			if per[n] > 1 {
				e.t.Fatalf("%s: DUPLICATE: service %s has two containers: %s", what, n, describe(list))
			}
			if !want[strings.TrimPrefix(c.Names[0], "/")] {
				bad = append(bad, "extra "+c.Names[0])
			} else if c.State != container.StateRunning {
				bad = append(bad, c.Names[0]+" is "+string(c.State))
			}
		}
		for _, s := range services {
			if per[s] == 0 {
				bad = append(bad, "no container for "+s)
			}
		}
		if len(bad) > 0 {
			return false, strings.Join(bad, "; ") + " — " + describe(list)
		}
		sts, err := e.serviceStatuses()
		if err != nil {
			return false, err.Error()
		}
		for _, s := range services {
			if st := sts[s]["status"]; st != "running" {
				bad = append(bad, fmt.Sprintf("%s is %v (%v)", s, st, sts[s]["reason"]))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	if code, b, err := e.call("GET", "/api/diff", ""); err != nil || code != http.StatusOK || !strings.Contains(string(b), `"in_sync":true`) {
		e.t.Errorf("%s: converged but GET /api/diff says: %d %v %s", what, code, err, b)
	}
}
