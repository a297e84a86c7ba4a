package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent/plan"
)

// The fleet part: three hosts follow one bare repository on this daemon
// (each its own state directory, instance and agent, --interval 1s), each
// running the one service placed on it. A commit that changes all three
// services is pushed; the time from the push to every host running its
// changed container is measured (SPEC: ≤ follow interval + 1 s).

const fleetInterval = time.Second

func (e *env) benchFleet() error {
	control, _, err := e.newState("fleet")
	if err != nil {
		return err
	}
	bare := filepath.Join(e.tmp, "fleet.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		return fmt.Errorf("git init --bare: %v %s", err, out)
	}
	ps, err := e.ports(3)
	if err != nil {
		return err
	}
	for i := range 3 {
		h := fmt.Sprintf("h%d", i+1)
		body := fmt.Sprintf("name: %s\nurl: http://127.0.0.1:1\n", h)
		for _, d := range []string{"hosts", "services"} {
			if err := os.MkdirAll(filepath.Join(control, d), 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(control, "hosts", h+".yaml"), []byte(body), 0o644); err != nil {
			return err
		}
		svc := append(serviceYAML(fmt.Sprintf("s%d", i+1), ps[i]), []byte("placement: {hosts: ["+h+"]}\nenv: {ROUND: \"0\"}\n")...)
		if err := os.WriteFile(filepath.Join(control, "services", fmt.Sprintf("s%d.yaml", i+1)), svc, 0o644); err != nil {
			return err
		}
	}
	if err := gitCommit(control, "bench: three hosts, a service placed on each"); err != nil {
		return err
	}
	if _, _, err := e.aimaRun(control, "remote", "add", "origin", "file://"+bare); err != nil {
		return err
	}
	if _, _, err := e.aimaRun(control, "push"); err != nil {
		return err
	}
	type host struct {
		dir, instance, service string
		a                      *agentProc
	}
	var hosts []*host
	for i := range 3 {
		h := &host{dir: filepath.Join(e.tmp, fmt.Sprintf("fleet-h%d", i+1)), service: fmt.Sprintf("s%d", i+1)}
		if _, _, err := e.aimaRun(h.dir, "init", "--from", "file://"+bare, "--host", fmt.Sprintf("h%d", i+1)); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(h.dir, ".local", "instance"))
		if err != nil {
			return err
		}
		h.instance = strings.TrimSpace(string(b))
		e.mu.Lock()
		e.instances = append(e.instances, h.instance) // removed by the cleanup
		e.mu.Unlock()
		if h.a, err = e.startAgentArgs(h.dir, fmt.Sprintf("agent-fleet-h%d", i+1), "--follow", "origin/main", "--interval", fleetInterval.String()); err != nil {
			return err
		}
		defer e.stopAgent(h.a)
		hosts = append(hosts, h)
	}
	// runningHash is the spec hash of the host's running container ("" for none).
	runningHash := func(h *host) string {
		out, _ := exec.Command("docker", "ps", "--filter", "name=^"+plan.ContainerName(h.instance, "service", h.service, 1)+"$",
			"--format", `{{.Label "aima.spec-hash"}}`).Output()
		return strings.TrimSpace(string(out))
	}
	waitAll := func(before map[*host]string, deadline time.Duration) (time.Duration, error) {
		t0 := time.Now()
		var last time.Duration
		for _, h := range hosts {
			for {
				if hs := runningHash(h); hs != "" && hs != before[h] {
					break
				}
				if time.Since(t0) > deadline {
					return 0, fmt.Errorf("host %s did not run its changed %s within %s", h.dir, h.service, deadline)
				}
				time.Sleep(20 * time.Millisecond)
			}
			last = time.Since(t0)
		}
		return last, nil
	}
	if _, err := waitAll(map[*host]string{}, 90*time.Second); err != nil {
		return err
	}
	var took []float64
	for round := 1; round <= samples(5); round++ {
		before := map[*host]string{}
		for _, h := range hosts {
			before[h] = runningHash(h)
		}
		for _, h := range hosts {
			if _, _, err := e.aimaRun(control, "service", "update", h.service, "--env", fmt.Sprintf("ROUND=%d", round)); err != nil {
				return err
			}
		}
		t0 := time.Now()
		if _, _, err := e.aimaRun(control, "push"); err != nil {
			return err
		}
		pushed := time.Since(t0)
		d, err := waitAll(before, 30*time.Second)
		if err != nil {
			return err
		}
		took = append(took, ms(d+pushed))
	}
	slices.Sort(took)
	med := took[len(took)/2]
	// The baseline, in this run: what the follow interval leaves room for —
	// Docker's own create and start of one stub container.
	var dockerRun []float64
	for i := range 3 {
		ps, err := e.ports(1)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s-fleet-base-%d", e.run, i)
		d, err := e.dockerRunParallel(name, ps)
		if err != nil {
			return err
		}
		dockerRun = append(dockerRun, ms(d))
		_ = exec.Command("docker", "rm", "-f", name+"-00").Run()
	}
	slices.Sort(dockerRun)
	e.series("fleet: docker run -d of one stub container, same run (ms)", dockerRun)
	target := ms(fleetInterval + time.Second)
	e.series("fleet: push → every host running its changed service (ms)", took)
	e.row(Row{
		What:       fmt.Sprintf("fleet: a pushed change reaches every placed host (3 followers on one daemon, --interval %s; median of %d)", fleetInterval, len(took)),
		Aima:       fmtMs(med),
		Comparison: fmt.Sprintf("follow interval %s + `docker run -d` of one stub container (median of 3, this run): %s", fleetInterval, fmtMs(dockerRun[1])),
		Target:     "≤ follow interval + 1 s (" + fmtMs(target) + ")",
		Pass:       ptr(med <= target),
		Note:       fmt.Sprintf("max %s; from the push command's start to the last host's new container running", fmtMs(took[len(took)-1])),
	})
	return nil
}
