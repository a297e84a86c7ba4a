package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ---------------------------------------------------------------------------
// 6. The inference gateway next to the engine it routes to: the same stub
// service called directly and through the agent's /v1/chat/completions, the
// same load (16 concurrent keep-alive clients), in the same run; then 1,000
// concurrent streaming requests through the gateway.

const gatewayBody = `{"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}`

// loadResult is one closed-loop load: requests per second and latencies.
type loadResult struct {
	rps      float64
	p50, p99 float64 // ms
	errors   int
	n        int // requests answered
}

// load runs c clients, each sending requests back to back for d over its
// own keep-alive connection, and reports throughput and latencies.
func load(url string, token string, c int, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []float64
	var errs atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("POST", url, strings.NewReader(gatewayBody))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				mine = append(mine, ms(time.Since(t0)))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := loadResult{errors: int(errs.Load())}
	if n := len(lat); n > 0 {
		r.rps = float64(n) / elapsed.Seconds()
		r.n = n
		r.p50 = lat[n/2]
		r.p99 = lat[min(n-1, n*99/100)]
	}
	return r
}

// cpuSample is the CPU time (user + system, seconds) used so far by the
// agent, the stub's process and this process (the load generator).
type cpuSample struct{ agent, stub, client float64 }

func cpuNow(agentPid, stubPid int) cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpuSample{agent: procCPU(agentPid), stub: procCPU(stubPid), client: tv(ru.Utime) + tv(ru.Stime)}
}

// procCPU reads a process's user + system time from /proc/PID/stat (0
// when it cannot).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || pid <= 0 {
		return 0
	}
	// Fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// cpuUse adds up CPU time and requests over rounds.
type cpuUse struct {
	sum cpuSample
	n   int
}

func (u *cpuUse) add(before, after cpuSample, n int) {
	u.sum.agent += after.agent - before.agent
	u.sum.stub += after.stub - before.stub
	u.sum.client += after.client - before.client
	u.n += n
}

// String is the CPU per request: "agent 61 µs + stub 48 µs + client 52 µs".
func (u cpuUse) String() string {
	if u.n == 0 {
		return "n/a"
	}
	us := func(s float64) string { return fmt.Sprintf("%.0f µs", s/float64(u.n)*1e6) }
	return fmt.Sprintf("agent %s + stub %s + client %s", us(u.sum.agent), us(u.sum.stub), us(u.sum.client))
}

// containerPid is the host pid of the first container matching a label
// filter (0 when there is none).
func (e *env) containerPid(label string) int {
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+label).Output()
	if err != nil {
		return 0
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	out, err = exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}

// streams sends n streaming chats at once and counts those that did not
// end with [DONE].
func streams(url, token string, n int) (failed int, took time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var bad atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"model": "m", "stream": true, "messages": [{"role": "user", "content": "a streamed hello"}]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				bad.Add(1)
				return
			}
			defer resp.Body.Close()
			done := false
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if sc.Text() == "data: [DONE]" {
					done = true
				}
			}
			if resp.StatusCode != 200 || !done {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(bad.Load()), time.Since(t0)
}

func (e *env) benchGateway() error {
	dir, _, err := e.newState("gateway")
	if err != nil {
		return err
	}
	ps, err := e.ports(1)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "services"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "services", "gw.yaml"), serviceYAML("gw", ps[0]), 0o644); err != nil {
		return err
	}
	if err := gitCommit(dir, "bench: a stub service"); err != nil {
		return err
	}
	a, err := e.startAgent(dir, "agent-gateway")
	if err != nil {
		return err
	}
	defer e.stopAgent(a)
	if _, _, err := a.waitReady(60 * time.Second); err != nil {
		return err
	}
	direct := fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", ps[0])
	gateway := "http://" + a.addr + "/v1/chat/completions"
	deadline := time.Now().Add(90 * time.Second)
	for {
		if r := load(gateway, benchToken, 1, 50*time.Millisecond); r.rps > 0 && r.errors == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not answer for model m within 90s: %s", a.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	const c = 16
	d := 3 * time.Second
	load(direct, "", c, time.Second) // warm both paths
	load(gateway, benchToken, c, time.Second)
	// Alternate, so a drift of the machine hits both sides alike. The CPU
	// time each process spends per request is counted too: on a machine
	// with fewer cores than the load needs, the throughput ratio is the
	// ratio of CPU per request, not the gateway's added latency.
	stubPid := e.containerPid("aima.name=gw")
	var dr, gw []loadResult
	var cpuDirect, cpuGateway cpuUse
	for range 3 {
		before := cpuNow(a.cmd.Process.Pid, stubPid)
		r := load(direct, "", c, d)
		cpuDirect.add(before, cpuNow(a.cmd.Process.Pid, stubPid), r.n)
		dr = append(dr, r)
		before = cpuNow(a.cmd.Process.Pid, stubPid)
		r = load(gateway, benchToken, c, d)
		cpuGateway.add(before, cpuNow(a.cmd.Process.Pid, stubPid), r.n)
		gw = append(gw, r)
	}
	best := func(rounds []loadResult) loadResult {
		rs := slices.Clone(rounds) // the rounds stay in their order for the series
		slices.SortFunc(rs, func(a, b loadResult) int {
			switch {
			case a.rps > b.rps:
				return -1
			case a.rps < b.rps:
				return 1
			}
			return 0
		})
		return rs[len(rs)/2] // the median round by throughput
	}
	D, G := best(dr), best(gw)
	ratio := G.rps / D.rps
	added := G.p50 - D.p50
	e.series("gateway: direct p50 per round (ms)", []float64{dr[0].p50, dr[1].p50, dr[2].p50})
	e.series("gateway: through the agent p50 per round (ms)", []float64{gw[0].p50, gw[1].p50, gw[2].p50})
	e.row(Row{
		What:       fmt.Sprintf("`/v1/chat/completions` through the agent, stub, %d concurrent keep-alive clients: throughput (p50, p99)", c),
		Aima:       fmt.Sprintf("%.0f req/s (%s, %s)", G.rps, fmtMs(G.p50), fmtMs(G.p99)),
		Comparison: fmt.Sprintf("straight to the engine: %.0f req/s (%s, %s)", D.rps, fmtMs(D.p50), fmtMs(D.p99)),
		Target:     "≥ 0.9× direct, ≤ 0.5 ms added at p50",
		Pass:       ptr(ratio >= 0.9 && added <= 0.5 && G.errors == 0),
		Note: fmt.Sprintf("%.2f× the throughput, %+.2f ms at p50; errors %d (direct %d); CPU per request: direct %s, through the agent %s",
			ratio, added, G.errors, D.errors, cpuDirect, cpuGateway),
	})
	failed, took := streams(gateway, benchToken, 1000)
	e.row(Row{
		What:   "1,000 concurrent streaming chats through the agent",
		Aima:   fmt.Sprintf("%d failed, all done in %s", failed, took.Round(time.Millisecond)),
		Target: "no error",
		Pass:   ptr(failed == 0),
	})
	return nil
}
