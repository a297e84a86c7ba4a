package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// crashParams reads the seed (AIMA_CRASH_SEED, else random, always logged
// so a failure can be replayed) and the number of rounds (AIMA_CRASH_ROUNDS,
// else def).
func crashParams(t *testing.T, def int) (*rand.Rand, uint64, int) {
	t.Helper()
	seed := rand.Uint64() >> 1
	if s := os.Getenv("AIMA_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("AIMA_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	rounds := def
	if s := os.Getenv("AIMA_CRASH_ROUNDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("AIMA_CRASH_ROUNDS=%q: want a positive number", s)
		}
		rounds = v
	}
	t.Logf("seed %d, %d rounds (replay: AIMA_CRASH_SEED=%d AIMA_CRASH_ROUNDS=%d)", seed, rounds, seed, rounds)
	return rand.New(rand.NewPCG(seed, 0x61696d61)), seed, rounds
}

// ledger records every write attempted during a crash test and whether it
// was acknowledged (CLI exit 0, API 2xx). Each object is written by one
// worker at a time, so the order of its writes is known.
type ledger struct {
	mu   sync.Mutex
	objs map[string]*record // by "kind/name"
}

type record struct {
	kind, name string
	acked      map[string]any   // the content of the last acknowledged write; nil: none
	maybe      []map[string]any // writes after it that were not acknowledged: each may or may not have landed
}

func (l *ledger) result(kind, name string, fields map[string]any, acked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := kind + "/" + name
	r := l.objs[key]
	if r == nil {
		r = &record{kind: kind, name: name}
		l.objs[key] = r
	}
	if acked {
		r.acked, r.maybe = fields, nil
	} else {
		r.maybe = append(r.maybe, fields)
	}
}

func (l *ledger) counts() (acked, unacked int) {
	for _, r := range l.objs {
		if r.acked != nil {
			acked++
		}
		unacked += len(r.maybe)
	}
	return
}

// matches reports whether item has every field of want.
func matches(item, want map[string]any) bool {
	for k, v := range want {
		if fmt.Sprint(item[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// TestCrashDuringWrites kills the agent (and some CLI processes) with
// SIGKILL in the middle of a burst of concurrent CLI and API writes, round
// after round, and checks after each restart that every acknowledged write
// is there with its content, every file is valid and committed, git is
// sound, and the services' containers are exactly what their status says.
func TestCrashDuringWrites(t *testing.T) {
	rng, seed, rounds := crashParams(t, 5)
	e := newAimaEnv(t, 10)
	e.mustAima("model", "create", "--name", "crash-model", "--source", "ollama", "--repo", "tinyllama")
	services := []string{"crash-a", "crash-b"}
	for _, s := range services {
		e.mustAima("service", "create", "--name", s, "--model", "crash-model", "--engine", "stub")
	}
	l := &ledger{objs: map[string]*record{}}
	for _, s := range services {
		l.result("service", s, map[string]any{"state": "running"}, true)
	}
	agent := e.startAgent()
	for _, s := range services {
		e.waitStatus(s, "running", 60*time.Second)
	}
	kills, cliKills := 0, 0
	for round := range rounds {
		killAfter := time.Duration(50+rng.IntN(1200)) * time.Millisecond
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := range 4 {
			wrng := rand.New(rand.NewPCG(seed, uint64(round*16+w)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n int
				if w < 2 {
					n = cliWriter(e, l, wrng, w, round, stop)
				} else {
					apiWriter(e, l, wrng, w, round, stop)
				}
				mu.Lock()
				cliKills += n
				mu.Unlock()
			}()
		}
		// One service changes its desired state in the burst, so that some
		// kills hit a sync pass that is creating or removing a container.
		toggle := services[round%2]
		verb := []string{"stop", "start"}[(round/2)%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, err := e.call("POST", "/api/service/"+verb, fmt.Sprintf(`{"id": %q}`, toggle))
			want := map[string]any{"state": map[string]string{"stop": "stopped", "start": "running"}[verb]}
			l.result("service", toggle, want, err == nil && code == http.StatusOK)
		}()
		time.Sleep(killAfter) // a random kill point, not synchronisation
		agent.kill()
		kills++
		// The CLI writers go on a little while the agent is down: the next
		// agent must take over what they leave.
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		close(stop)
		wg.Wait()

		agent = e.startAgent()
		e.verifyLedger(l, round)
		e.verifyServices(services, round)
		if t.Failed() {
			t.Fatalf("round %d failed (kill after %s); replay with AIMA_CRASH_SEED=%d AIMA_CRASH_ROUNDS=%d\nagent output:\n%s", round, killAfter, seed, round+1, agent.out)
		}
	}
	acked, unacked := l.counts()
	t.Logf("%d agent kills, %d CLI kills; %d objects with an acknowledged write, %d unacknowledged writes; nothing lost", kills, cliKills, acked, unacked)
}

// cliWriter creates and updates models with the CLI until stop, killing
// about one process in five at a random moment. It returns how many it
// killed.
func cliWriter(e *aimaEnv, l *ledger, rng *rand.Rand, w, round int, stop <-chan struct{}) (killed int) {
	var own []string
	for i := 0; ; i++ {
		select {
		case <-stop:
			return killed
		default:
		}
		name := fmt.Sprintf("cli%d-r%d-%d", w, round, i)
		repo := fmt.Sprintf("repo-%d-%d", round, i)
		args := []string{"model", "create", "--name", name, "--source", "ollama", "--repo", repo}
		if len(own) > 0 && rng.IntN(3) == 0 {
			name = own[rng.IntN(len(own))]
			args = []string{"model", "update", name, "--repo", repo}
		}
		c := e.command(context.Background(), args...)
		var stderr strings.Builder
		c.Stderr = &stderr
		if err := c.Start(); err != nil {
			e.t.Errorf("aima %v: %v", args, err)
			return killed
		}
		if rng.IntN(5) == 0 {
			killed++
			time.AfterFunc(time.Duration(rng.IntN(60))*time.Millisecond, func() { _ = c.Process.Kill() })
		}
		err := c.Wait()
		ok := err == nil
		l.result("model", name, map[string]any{"source": "ollama", "repo": repo}, ok)
		if ok && args[1] == "create" {
			own = append(own, name)
		}
		if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() > 0 {
			// A write that fails cleanly (a lock left by a killed process,
			// for instance) is not acknowledged; that is allowed.
			e.t.Logf("aima %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
}

// apiWriter creates and updates models (even w) or alert rules (odd w)
// through the API until stop or until the agent is gone.
func apiWriter(e *aimaEnv, l *ledger, rng *rand.Rand, w, round int, stop <-chan struct{}) {
	var own []string
	kind := []string{"model", "alert"}[w%2]
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		name := fmt.Sprintf("api%d-r%d-%d", w, round, i)
		verb := "create"
		if len(own) > 0 && rng.IntN(3) == 0 {
			name, verb = own[rng.IntN(len(own))], "update"
		}
		var fields map[string]any
		if kind == "model" {
			fields = map[string]any{"source": "huggingface", "repo": fmt.Sprintf("org/m-%d-%d", round, i)}
		} else {
			fields = map[string]any{"condition": fmt.Sprintf("gpu_temp > %d", 50+i), "action": "notify", "severity": []string{"info", "warning", "critical"}[i%3]}
		}
		body := map[string]any{"name": name}
		for k, v := range fields {
			body[k] = v
		}
		b, _ := json.Marshal(body)
		code, resp, err := e.call("POST", "/api/"+kind+"/"+verb, string(b))
		ok := err == nil && code/100 == 2
		l.result(kind, name, fields, ok)
		if err != nil {
			return // the agent is gone
		}
		if !ok {
			e.t.Logf("POST /api/%s/%s: %d %s", kind, verb, code, resp)
			continue
		}
		if verb == "create" {
			own = append(own, name)
		}
	}
}

// verifyLedger checks every recorded write against the restarted agent's
// lists, the files' validity and git.
func (e *aimaEnv) verifyLedger(l *ledger, round int) {
	t := e.t
	t.Helper()
	lists := map[string]map[string]map[string]any{}
	for _, k := range []string{"model", "alert", "service"} {
		lists[k] = byName(e.apiList(k))
	}
	e.checkGit(true)
	tracked := map[string]bool{}
	for _, p := range strings.Fields(e.mustGit("ls-tree", "-r", "--name-only", "HEAD")) {
		tracked[p] = true
	}
	dirs := map[string]string{"model": "models", "alert": "alerts", "service": "services"}
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.objs))
	for k := range l.objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		r := l.objs[key]
		got, present := lists[r.kind][r.name]
		if r.kind == "service" && present && got["state"] == nil {
			got["state"] = "running" // the default
		}
		if r.acked != nil && !present {
			t.Errorf("round %d: LOST: %s was acknowledged (%v) but is gone", round, key, r.acked)
			continue
		}
		if !present {
			continue // never acknowledged: absent is fine
		}
		ok := r.acked != nil && matches(got, r.acked)
		for _, m := range r.maybe {
			ok = ok || matches(got, m)
		}
		if !ok {
			t.Errorf("round %d: %s is %v; want the acknowledged %v or one of the unacknowledged %v", round, key, got, r.acked, r.maybe)
		}
		if path := dirs[r.kind] + "/" + r.name + ".yaml"; !tracked[path] {
			t.Errorf("round %d: %s is not committed", round, path)
		}
	}
	if out, errOut, code := e.aima("validate"); code != 0 {
		t.Errorf("round %d: aima validate: exit %d\n%s%s", round, code, out, errOut)
	}
}

// verifyServices checks that no service ever has two containers, and waits
// until every service's status agrees with Docker: status running with a
// running container, or stopped with none.
func (e *aimaEnv) verifyServices(services []string, round int) {
	t := e.t
	t.Helper()
	checkOne := func() map[string][]container.Summary {
		per := map[string][]container.Summary{}
		for _, c := range e.containers() {
			per[c.Labels["aima.name"]] = append(per[c.Labels["aima.name"]], c)
		}
		for n, cs := range per {
			if len(cs) > 1 {
				t.Fatalf("round %d: DUPLICATE: %d containers for service %s: %s", round, len(cs), n, describe(cs))
			}
		}
		return per
	}
	checkOne()
	waitUntil(t, 30*time.Second, fmt.Sprintf("round %d: service status matches Docker", round), func() (bool, string) {
		sts, err := e.serviceStatuses()
		if err != nil {
			return false, err.Error()
		}
		per := checkOne()
		var bad []string
		for _, s := range services {
			st := sts[s]
			cs := per[s]
			running := len(cs) == 1 && cs[0].State == container.StateRunning
			switch {
			case st["state"] == "stopped" && st["status"] == "stopped" && len(cs) == 0:
			case st["state"] != "stopped" && st["status"] == "running" && running:
			default:
				bad = append(bad, fmt.Sprintf("%s: state %v status %v, containers %s", s, st["state"], st["status"], describe(cs)))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
}
