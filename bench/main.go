// Command bench is the harness behind `make bench`: it measures aima against
// Docker's own tools side by side, in one run, on this machine, and prints a
// Markdown table (what, aima, comparison, target, pass/fail) and a summary of
// the raw samples. The targets are those of the spec, section 8.
//
//	go run ./bench [-n N] [-only diff|converge|latency|create|start|gateway|mcp|web] [-json FILE]
//
// Every measurement uses its own temporary state directory with a unique
// instance id, unique container names and free host ports; every container
// it creates (aima's, `docker run`'s, docker-compose's) is removed at the end
// of its part, at the end of the run, on failure and on SIGINT/SIGTERM.
//
// It needs bin/aima (make build), a running Docker daemon, the docker CLI,
// docker-compose and git.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aima-dev/aima/agent/plan"

	"crypto/rand"
	"encoding/hex"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

var (
	flagN        = flag.Int("n", 0, "at most this many samples per series (0: the full counts: 30 diff, 10 compose no-op, 20 latency, 30 CLI creates, 100 API creates, 3 starts); use e.g. 3 for a quick run")
	flagOnly     = flag.String("only", "", "run one part: diff, converge, latency, create, start, gateway, mcp or web")
	flagJSON     = flag.String("json", "", "also write the results as JSON to this file")
	flagServices = flag.Int("services", 50, "services (containers) in the diff and converge parts")
	flagRounds   = flag.Int("rounds", 2, "rounds of the converge part (aima, docker run, compose alternate)")
	flagSizes    = flag.String("sizes", "100,1000,10000", "repository sizes (objects) of the create part; the API is measured on the largest")
	flagObjects  = flag.Int("start-objects", 10000, "objects in the repository of the start part")
	flagIdle     = flag.Duration("idle", 10*time.Second, "idle window of the start part (CPU and RSS)")
	flagAima     = flag.String("aima", "", "aima binary (default: bin/aima in the module root)")
	flagKeep     = flag.Bool("keep", false, "keep the temporary state directories (containers are removed regardless)")
)

// Bench labels go on every container the comparison side creates.
const (
	labelBench    = "aima-bench.run"
	labelInstance = "aima.instance"
	stubPort      = 8000 // the stub engine's container port
)

func main() {
	flag.Parse()
	switch *flagOnly {
	case "", "diff", "converge", "latency", "create", "start", "gateway", "mcp", "fleet", "web":
	default:
		fmt.Fprintf(os.Stderr, "bench: -only %q: want diff, converge, latency, create, start, gateway, mcp, fleet or web\n", *flagOnly)
		os.Exit(2)
	}
	e, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nbench: %v: cleaning up\n", s)
		e.cleanup(true)
		os.Exit(130)
	}()

	e.printMachine()
	parts := []struct {
		name string
		run  func(*env) error
	}{
		{"diff", (*env).benchDiff},
		{"converge", (*env).benchConverge},
		{"latency", (*env).benchLatency},
		{"create", (*env).benchCreate},
		{"start", (*env).benchStart},
		{"gateway", (*env).benchGateway},
		{"mcp", (*env).benchMCP},
		{"fleet", (*env).benchFleet},
		{"web", (*env).benchWeb},
	}
	failed := false
	for _, p := range parts {
		if *flagOnly != "" && *flagOnly != p.name {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", p.name)
		t0 := time.Now()
		err := p.run(e)
		e.cleanup(false)
		if err != nil {
			failed = true
			msg := fmt.Sprintf("%s: %v", p.name, err)
			e.rep.Errors = append(e.rep.Errors, msg)
			fmt.Fprintf(os.Stderr, "bench: %s\n", msg)
		}
		fmt.Fprintf(os.Stderr, "   (%s took %s)\n", p.name, time.Since(t0).Round(time.Second))
	}
	e.cleanup(true)
	e.printReport()
	if *flagJSON != "" {
		b, _ := json.MarshalIndent(e.rep, "", "  ")
		if err := os.WriteFile(*flagJSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// ---------------------------------------------------------------------------
// The environment: binary, Docker, temp dirs, ports, cleanup.

type env struct {
	root  string // module root
	aima  string // aima binary
	image string // stub engine image tag
	run   string // random id of this run: in names, labels and instance ids
	tmp   string
	dc    *client.Client
	rep   Report

	mu        sync.Mutex
	instances []string
	procs     []*exec.Cmd
	compose   [][2]string // file, project
	usedPorts map[int]bool
	nextPort  int
	floorOnce sync.Once
}

func setup() (*env, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	e := &env{root: root, run: randHex(3), usedPorts: map[int]bool{}}
	e.nextPort = 20000 + int(randUint16()%20000)
	e.aima = *flagAima
	if e.aima == "" {
		e.aima = filepath.Join(root, "bin", "aima")
	}
	if _, err := os.Stat(e.aima); err != nil {
		return nil, fmt.Errorf("%s: %v (run make build first)", e.aima, err)
	}
	if e.aima, err = filepath.Abs(e.aima); err != nil {
		return nil, err
	}
	for _, tool := range []string{"docker", "docker-compose", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is needed: %v", tool, err)
		}
	}
	if e.dc, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.dc.Ping(ctx); err != nil {
		return nil, fmt.Errorf("docker daemon: %v", err)
	}
	if e.tmp, err = os.MkdirTemp("", "aima-bench-"); err != nil {
		return nil, err
	}
	out, err := exec.Command(e.aima, "engine", "build-stub").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("aima engine build-stub: %v\n%s", err, out)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return nil, fmt.Errorf("aima engine build-stub printed no tag")
	}
	e.image = lines[len(lines)-1]
	e.rep.Run = e.run
	e.rep.Image = e.image
	e.rep.Started = time.Now().UTC().Format(time.RFC3339)
	return e, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/aima-dev/aima\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run from inside the aima module (no go.mod of github.com/aima-dev/aima above %s)", dir)
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randUint16() uint16 {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return uint16(b[0])<<8 | uint16(b[1])
}

// ports returns n host ports that are free now (TCP, all interfaces) and
// were not handed out before in this run.
func (e *env) ports(n int) ([]int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []int
	for tries := 0; len(out) < n && tries < 20000; tries++ {
		p := e.nextPort
		e.nextPort++
		if e.nextPort > 60000 {
			e.nextPort = 20000
		}
		if e.usedPorts[p] {
			continue
		}
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		e.usedPorts[p] = true
		out = append(out, p)
	}
	if len(out) < n {
		return nil, fmt.Errorf("found only %d free ports", len(out))
	}
	return out, nil
}

// cleanup stops the agents this run started, removes every container it
// created and, when final, the temporary directory.
func (e *env) cleanup(final bool) {
	e.mu.Lock()
	procs := e.procs
	e.procs = nil
	comp := e.compose
	e.compose = nil
	insts := slices.Clone(e.instances)
	e.mu.Unlock()
	for _, p := range procs {
		stopProc(p)
	}
	for _, c := range comp {
		// network_mode: bridge, so compose made no network; down is for
		// anything else it may have left.
		cmd := exec.Command("docker-compose", "-p", c[1], "-f", c[0], "down", "-t", "0", "--remove-orphans")
		_ = cmd.Run()
	}
	// Twice: a container being created while the first pass lists could
	// survive it.
	for range 2 {
		var ids []string
		sels := []filters.Args{filters.NewArgs(filters.Arg("label", labelBench+"="+e.run))}
		for _, inst := range insts {
			sels = append(sels, filters.NewArgs(filters.Arg("label", labelInstance+"="+inst)))
		}
		for _, f := range sels {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cs, err := e.dc.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
			cancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: cleanup: list containers: %v\n", err)
				continue
			}
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
		}
		e.removeContainers(ids)
		if final {
			time.Sleep(200 * time.Millisecond)
		} else {
			break
		}
	}
	if final && !*flagKeep && e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}

func (e *env) removeContainers(ids []string) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := e.dc.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
				fmt.Fprintf(os.Stderr, "bench: cleanup: remove %.12s: %v\n", id, err)
			}
		}()
	}
	wg.Wait()
}

// removeByLabel removes the containers carrying label (k=v), e.g. one aima
// instance's between rounds.
func (e *env) removeByLabel(label string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := e.dc.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return err
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	e.removeContainers(ids)
	return nil
}

// running counts the running containers carrying label (k=v).
func (e *env) running(label string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := e.dc.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label), filters.Arg("status", "running"))})
	return len(cs), err
}

func (e *env) waitRunning(label string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := e.running(label)
		if err == nil && got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d containers with %s running after %s (err %v)", got, n, label, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// State directories and the aima binary.

// newState makes a state directory: aima init, a unique instance id, the
// model m, all committed with the git CLI.
func (e *env) newState(part string) (dir, instance string, err error) {
	dir = filepath.Join(e.tmp, part)
	instance = "bench-" + e.run + "-" + part
	e.mu.Lock()
	e.instances = append(e.instances, instance)
	e.mu.Unlock()
	if _, _, err := e.aimaRun(dir, "init"); err != nil {
		return "", "", err
	}
	set := filepath.Join(dir, "aima.yaml")
	b, err := os.ReadFile(set)
	if err != nil {
		return "", "", err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "instance:") {
			l = "instance: " + instance
		}
		out = append(out, l)
	}
	if err := os.WriteFile(set, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return "", "", err
	}
	if err := writeModel(dir, "m"); err != nil {
		return "", "", err
	}
	return dir, instance, gitCommit(dir, "bench: settings and model m")
}

func writeModel(dir, name string) error {
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "models", name+".yaml"), []byte(
		"# yaml-language-server: $schema=https://raw.githubusercontent.com/aima-dev/aima/main/schemas/model.json\n"+
			"name: "+name+"\nsource: ollama\nrepo: tinyllama\n"), 0o644)
}

func serviceYAML(name string, port int) []byte {
	return []byte("# yaml-language-server: $schema=https://raw.githubusercontent.com/aima-dev/aima/main/schemas/service.json\n" +
		"name: " + name + "\nmodel: m\nengine: stub\nport: " + strconv.Itoa(port) + "\n")
}

// writeServices writes one service file per port (names prefix-00, ...)
// and commits them.
func writeServices(dir, prefix string, ports []int) error {
	if err := os.MkdirAll(filepath.Join(dir, "services"), 0o755); err != nil {
		return err
	}
	for i, p := range ports {
		name := fmt.Sprintf("%s-%02d", prefix, i)
		if err := os.WriteFile(filepath.Join(dir, "services", name+".yaml"), serviceYAML(name, p), 0o644); err != nil {
			return err
		}
	}
	return gitCommit(dir, "bench: services")
}

// seedModels writes n model files and commits them in one git CLI commit.
func seedModels(dir string, n int) error {
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		return err
	}
	for i := range n {
		if err := writeModel(dir, fmt.Sprintf("obj-%05d", i)); err != nil {
			return err
		}
	}
	return gitCommit(dir, fmt.Sprintf("bench: %d models", n))
}

func gitCommit(dir, msg string) error {
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "--no-verify", "-m", msg}} {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false", "-c", "gc.auto=0"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// aimaRun runs `aima --dir dir args...` as a whole process and returns its
// wall time. A non-zero exit is an error (with its output).
func (e *env) aimaRun(dir string, args ...string) (time.Duration, []byte, error) {
	return e.aimaRunEnv(dir, nil, args...)
}

func (e *env) aimaRunEnv(dir string, extra []string, args ...string) (time.Duration, []byte, error) {
	cmd := exec.Command(e.aima, append([]string{"--dir", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(append(os.Environ(), "AIMA_AUTHOR=bench <bench@localhost>"), extra...)
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return d, out.Bytes(), fmt.Errorf("aima %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 2000))
	}
	return d, out.Bytes(), nil
}

type agentProc struct {
	cmd  *exec.Cmd
	addr string
	log  string
	t0   time.Time // just before exec
}

// startAgent runs `aima start` on dir, its log in the temp directory.
func (e *env) startAgent(dir, name string) (*agentProc, error) {
	return e.startAgentArgs(dir, name)
}

// startAgentArgs is startAgent with more arguments for `aima start`.
func (e *env) startAgentArgs(dir, name string, args ...string) (*agentProc, error) {
	ps, err := e.ports(1)
	if err != nil {
		return nil, err
	}
	a := &agentProc{addr: fmt.Sprintf("127.0.0.1:%d", ps[0]), log: filepath.Join(e.tmp, name+".log")}
	f, err := os.Create(a.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a.cmd = exec.Command(e.aima, append([]string{"--dir", dir, "start", "--addr", a.addr}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = f, f
	a.cmd.Env = append(os.Environ(), "AIMA_AUTHOR=bench <bench@localhost>", "AIMA_TOKEN="+benchToken)
	a.t0 = time.Now()
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.procs = append(e.procs, a.cmd)
	e.mu.Unlock()
	return a, nil
}

func (e *env) stopAgent(a *agentProc) {
	e.mu.Lock()
	e.procs = slices.DeleteFunc(e.procs, func(c *exec.Cmd) bool { return c == a.cmd })
	e.mu.Unlock()
	stopProc(a.cmd)
}

func stopProc(c *exec.Cmd) {
	if c.Process == nil || c.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	_ = c.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func (a *agentProc) logTail() string {
	b, _ := os.ReadFile(a.log)
	return tail(string(b), 1500)
}

// benchToken is the token the bench's agents accept (AIMA_TOKEN) and its
// client sends, as the owner's CLI sends .local/token.
const benchToken = "aima-bench-token"

var httpc = &http.Client{Timeout: 5 * time.Second, Transport: bearer{http.DefaultTransport}}

// bearer adds the bench's token to every request to an agent.
type bearer struct{ rt http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+benchToken)
	return b.rt.RoundTrip(r)
}

// waitReady polls /health and then /metrics (aima_sync_passes_total >= 1)
// and returns when each first succeeded (measured from a.t0).
func (a *agentProc) waitReady(timeout time.Duration) (health, pass time.Duration, err error) {
	deadline := a.t0.Add(timeout)
	for {
		if a.cmd.ProcessState != nil {
			return 0, 0, fmt.Errorf("agent exited: %s", a.logTail())
		}
		r, err := httpc.Get("http://" + a.addr + "/health")
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == 200 {
				health = time.Since(a.t0)
				break
			}
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no /health after %s: %s", timeout, a.logTail())
		}
		time.Sleep(2 * time.Millisecond)
	}
	for {
		if n, err := a.syncPasses(); err == nil && n >= 1 {
			return health, time.Since(a.t0), nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no sync pass after %s: %s", timeout, a.logTail())
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func (a *agentProc) syncPasses() (float64, error) {
	r, err := httpc.Get("http://" + a.addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "aima_sync_passes_total" {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, sc.Err()
}

// ---------------------------------------------------------------------------
// Comparison side: docker-compose and docker run.

func (e *env) composeFile(part string, ports []int) (file, project string, err error) {
	project = "aimabench" + e.run + strings.ReplaceAll(part, "-", "")
	dir := filepath.Join(e.tmp, "compose-"+part)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	var b strings.Builder
	b.WriteString("version: \"2.4\"\nservices:\n")
	for i, p := range ports {
		fmt.Fprintf(&b, "  s%02d:\n    image: %s\n    command: [\"--addr\", \":%d\", \"--model\", \"m\"]\n"+
			"    ports: [\"%d:%d\"]\n    network_mode: bridge\n    restart: \"no\"\n    labels:\n      %s: %q\n",
			i, e.image, stubPort, p, stubPort, labelBench, e.run)
	}
	file = filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return "", "", err
	}
	e.mu.Lock()
	e.compose = append(e.compose, [2]string{file, project})
	e.mu.Unlock()
	return file, project, nil
}

func composeUp(file, project string) (time.Duration, error) {
	cmd := exec.Command("docker-compose", "-p", project, "-f", file, "up", "-d")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("docker-compose up -d: %v\n%s", err, tail(out.String(), 2000))
	}
	return d, nil
}

// dockerRunParallel runs one `docker run -d` per port, all at once, and
// returns the wall time until the last returned.
func (e *env) dockerRunParallel(prefix string, ports []int) (time.Duration, error) {
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	cmds := make([]*exec.Cmd, len(ports))
	for i, p := range ports {
		cmds[i] = exec.Command("docker", "run", "-d", "--name", fmt.Sprintf("%s-%02d", prefix, i),
			"-p", fmt.Sprintf("%d:%d", p, stubPort), "--restart", "no", "--label", labelBench+"="+e.run,
			e.image, "--addr", fmt.Sprintf(":%d", stubPort), "--model", "m")
	}
	t0 := time.Now()
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := c.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("docker run: %v: %s", err, strings.TrimSpace(string(out)))
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), errors.Join(errs...)
}

// floor measures `aima version` as a whole process (start-up: exec, page-in,
// package init, cobra), once per run: the part of every CLI figure that is
// not the command's own work.
func (e *env) floor(dir string) {
	e.floorOnce.Do(func() {
		var s []float64
		for range samples(30) {
			d, _, err := e.aimaRun(dir, "version")
			if err != nil {
				return
			}
			s = append(s, ms(d))
		}
		f := e.series("floor: aima version, whole process (start-up cost of every CLI call)", s)
		note := fmt.Sprintf("process start-up floor (`aima version`): median %s, p90 %s — included in every CLI figure above", fmtMs(f.Median), fmtMs(f.P90))
		if m, ok := emptyProcess(); ok {
			note += fmt.Sprintf("; an empty Go program (`func main() {}`, static) takes %s here: the machine's own exec floor", fmtMs(m))
		}
		e.rep.Notes = append(e.rep.Notes, note)
	})
}

// emptyProcess builds `func main() {}` and returns the median of 30 runs
// in ms: what exec and the Go runtime cost on this machine before any of
// aima's code or its libraries' init functions run.
func emptyProcess() (float64, bool) {
	dir, err := os.MkdirTemp("", "aima-bench-empty-")
	if err != nil {
		return 0, false
	}
	defer os.RemoveAll(dir)
	if os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module empty\n\ngo 1.21\n"), 0o644) != nil ||
		os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644) != nil {
		return 0, false
	}
	bin := filepath.Join(dir, "empty")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if build.Run() != nil {
		return 0, false
	}
	var s []float64
	for range 30 {
		t0 := time.Now()
		if exec.Command(bin).Run() != nil {
			return 0, false
		}
		s = append(s, ms(time.Since(t0)))
	}
	sort.Float64s(s)
	return s[len(s)/2], true
}

// diagnose is run when a CLI figure misses its target: it times the same
// command with GOGC=off (the share of garbage collection) and sums the
// package initialisation of one run (GODEBUG=inittrace=1).
func (e *env) diagnose(dir, what string, args ...string) {
	var s []float64
	for i := range samples(10) {
		a := slices.Clone(args)
		if a[0] == "model" { // create needs a new name each time
			a[len(a)-1] = fmt.Sprintf("%s-%d", a[len(a)-1], i)
		}
		d, _, err := e.aimaRunEnv(dir, []string{"GOGC=off"}, a...)
		if err != nil {
			return
		}
		s = append(s, ms(d))
	}
	g := e.series("diagnosis: "+what+" with GOGC=off", s)
	cmd := exec.Command(e.aima, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, _ := cmd.CombinedOutput()
	var sum, last float64
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[0] == "init" {
			v, _ := strconv.ParseFloat(f[4], 64)
			sum += v
			last, _ = strconv.ParseFloat(strings.TrimPrefix(f[2], "@"), 64)
		}
	}
	e.rep.Notes = append(e.rep.Notes, fmt.Sprintf("diagnosis, %s: median with GOGC=off %s; package init of the binary: %.1f ms in init functions, last init done %.0f ms after exec (GODEBUG=inittrace=1)",
		what, fmtMs(g.Median), sum, last))
}

// ---------------------------------------------------------------------------
// 1. aima diff (nothing to do) vs docker-compose up -d no-op.

func (e *env) benchDiff() error {
	n := *flagServices
	dir, inst, err := e.newState("diff")
	if err != nil {
		return err
	}
	ports, err := e.ports(n)
	if err != nil {
		return err
	}
	if err := writeServices(dir, e.run+"-diff", ports); err != nil {
		return err
	}
	if _, _, err := e.aimaRun(dir, "sync"); err != nil {
		return err
	}
	if err := e.waitRunning(labelInstance+"="+inst, n, 60*time.Second); err != nil {
		return err
	}
	cports, err := e.ports(n)
	if err != nil {
		return err
	}
	file, project, err := e.composeFile("diff", cports)
	if err != nil {
		return err
	}
	if _, err := composeUp(file, project); err != nil {
		return err
	}
	if err := e.waitRunning("com.docker.compose.project="+project, n, 60*time.Second); err != nil {
		return err
	}
	// Warm both up once (page cache), then measure.
	if _, out, err := e.aimaRun(dir, "diff"); err != nil {
		return fmt.Errorf("aima diff is not in sync with %d running services: %v\n%s", n, err, out)
	}
	if _, err := composeUp(file, project); err != nil {
		return err
	}
	var aimaS, compS, psS []float64
	na, nc := samples(30), samples(10)
	for i := range max(na, nc) {
		if i < na {
			d, _, err := e.aimaRun(dir, "diff")
			if err != nil {
				return err
			}
			aimaS = append(aimaS, ms(d))
			// SPEC's second baseline: `docker ps` of the same containers,
			// a whole process too, interleaved with aima's samples.
			t0 := time.Now()
			if out, err := exec.Command("docker", "ps", "--filter", "label="+labelInstance+"="+inst, "-q").CombinedOutput(); err != nil {
				return fmt.Errorf("docker ps: %v: %s", err, out)
			}
			psS = append(psS, ms(time.Since(t0)))
		}
		if i < nc {
			d, err := composeUp(file, project)
			if err != nil {
				return err
			}
			compS = append(compS, ms(d))
		}
	}
	a := e.series(fmt.Sprintf("diff: aima diff, %d running, in sync", n), aimaS)
	e.floor(dir)
	c := e.series(fmt.Sprintf("diff: docker-compose up -d no-op, %d running", n), compS)
	ps := e.series(fmt.Sprintf("diff: docker ps of the same %d containers", n), psS)
	e.row(Row{
		What:       fmt.Sprintf("`aima diff` whole process, %d running services, nothing to do (median)", n),
		Aima:       fmtMs(a.Median),
		Comparison: fmt.Sprintf("%s (`docker-compose up -d` no-op, %s): %.2f×; `docker ps`: %s: %.2f×", fmtMs(c.Median), composeVersion(), a.Median/c.Median, fmtMs(ps.Median), a.Median/ps.Median),
		Target:     "≤ 0.5× compose and ≤ 1.0× docker ps (SPEC §8); ≤ 40 ms",
		Pass:       ptr(a.Median <= 0.5*c.Median && a.Median <= ps.Median),
	})
	// Where the time goes: the same diff without garbage collection, and
	// the package initialisation of the binary (GODEBUG=inittrace=1).
	if a.Median > 40 {
		e.diagnose(dir, "diff", "diff")
	}
	return nil
}

// ---------------------------------------------------------------------------
// 2. Converge n services from nothing: aima sync vs n parallel docker run -d
// vs docker-compose up -d.

func (e *env) benchConverge() error {
	n := *flagServices
	dir, inst, err := e.newState("converge")
	if err != nil {
		return err
	}
	ports, err := e.ports(n)
	if err != nil {
		return err
	}
	if err := writeServices(dir, e.run+"-conv", ports); err != nil {
		return err
	}
	if _, out, err := e.aimaRun(dir, "diff"); err == nil {
		return fmt.Errorf("aima diff reports nothing to do before converging:\n%s", out)
	}
	var aimaS, runS, compS []float64
	for r := range *flagRounds {
		// aima: one `aima sync`, all n must be running when it returns.
		if err := e.removeByLabel(labelInstance + "=" + inst); err != nil {
			return err
		}
		settle()
		d, _, err := e.aimaRun(dir, "sync")
		if err != nil {
			return err
		}
		got, err := e.running(labelInstance + "=" + inst)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("round %d: aima sync returned after %s with %d of %d containers running", r+1, d, got, n)
		}
		aimaS = append(aimaS, ms(d))
		fmt.Fprintf(os.Stderr, "   round %d: aima sync %s\n", r+1, d.Round(time.Millisecond))
		if err := e.removeByLabel(labelInstance + "=" + inst); err != nil {
			return err
		}

		// n parallel docker run -d.
		rports, err := e.ports(n)
		if err != nil {
			return err
		}
		settle()
		prefix := fmt.Sprintf("aimabench-%s-run%d", e.run, r)
		d, err = e.dockerRunParallel(prefix, rports)
		if err != nil {
			return err
		}
		if got, err := e.running(labelBench + "=" + e.run); err != nil || got != n {
			return fmt.Errorf("round %d: %d of %d docker run containers running (%v)", r+1, got, n, err)
		}
		runS = append(runS, ms(d))
		fmt.Fprintf(os.Stderr, "   round %d: %d × docker run -d %s\n", r+1, n, d.Round(time.Millisecond))
		if err := e.removeByLabel(labelBench + "=" + e.run); err != nil {
			return err
		}

		// docker-compose up -d from nothing.
		cports, err := e.ports(n)
		if err != nil {
			return err
		}
		file, project, err := e.composeFile(fmt.Sprintf("conv%d", r), cports)
		if err != nil {
			return err
		}
		settle()
		d, err = composeUp(file, project)
		if err != nil {
			return err
		}
		if got, err := e.running("com.docker.compose.project=" + project); err != nil || got != n {
			return fmt.Errorf("round %d: %d of %d compose containers running (%v)", r+1, got, n, err)
		}
		compS = append(compS, ms(d))
		fmt.Fprintf(os.Stderr, "   round %d: docker-compose up -d %s\n", r+1, d.Round(time.Millisecond))
		if err := e.removeByLabel(labelBench + "=" + e.run); err != nil {
			return err
		}
	}
	a := e.series(fmt.Sprintf("converge: aima sync, %d from nothing", n), aimaS)
	r := e.series(fmt.Sprintf("converge: %d parallel docker run -d", n), runS)
	c := e.series(fmt.Sprintf("converge: docker-compose up -d, %d from nothing", n), compS)
	ratios := make([]string, len(aimaS))
	worst := 0.0
	for i := range aimaS {
		q := aimaS[i] / runS[i]
		worst = max(worst, q)
		ratios[i] = fmt.Sprintf("%.2f×", q)
	}
	e.row(Row{
		What: fmt.Sprintf("converge %d stub services from nothing (each round; aima = one `aima sync`, all running when it returns)", n),
		Aima: joinMs(aimaS),
		Comparison: fmt.Sprintf("%d × parallel `docker run -d`: %s; `docker-compose up -d`: %s",
			n, joinMs(runS), joinMs(compS)),
		Target: "≤ 1.15 × parallel docker run",
		Pass:   ptr(worst <= 1.15),
		Note:   "aima / docker run per round: " + strings.Join(ratios, ", ") + fmt.Sprintf(" (medians %s / %s / %s)", fmtMs(a.Median), fmtMs(r.Median), fmtMs(c.Median)),
	})
	return nil
}

// settle gives the daemon a moment after a burst of removals.
func settle() { time.Sleep(time.Second) }

// ---------------------------------------------------------------------------
// 3. File saved → container started, vs Docker's own create+start.

type startWatch struct {
	mu      sync.Mutex
	waiters map[string]chan time.Time // by action + " " + container name
}

// expect registers interest in the next event action ("create" or "start")
// of the container name; the channel receives the time the event arrived.
func (w *startWatch) expect(action, name string) <-chan time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan time.Time, 1)
	w.waiters[action+" "+name] = ch
	return ch
}

func (e *env) watchStarts(ctx context.Context) (*startWatch, error) {
	w := &startWatch{waiters: map[string]chan time.Time{}}
	msgs, errs := e.dc.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("event", string(events.ActionCreate)), filters.Arg("event", string(events.ActionStart)))})
	go func() {
		for {
			select {
			case m := <-msgs:
				now := time.Now()
				key := string(m.Action) + " " + m.Actor.Attributes["name"]
				w.mu.Lock()
				if ch, ok := w.waiters[key]; ok {
					ch <- now
					delete(w.waiters, key)
				}
				w.mu.Unlock()
			case err := <-errs:
				if ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "bench: docker events: %v\n", err)
				}
				return
			}
		}
	}()
	// The subscription is established once the daemon answers; give it a moment.
	time.Sleep(300 * time.Millisecond)
	return w, nil
}

// commitTime is when the agent logged committing path ("committed edits"),
// from its log (millisecond resolution); zero if not found.
func (a *agentProc) commitTime(path string) time.Time {
	b, _ := os.ReadFile(a.log)
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `msg="committed edits"`) || !strings.Contains(l, path) {
			continue
		}
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], "time=") {
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

func (e *env) benchLatency() error {
	dir, inst, err := e.newState("latency")
	if err != nil {
		return err
	}
	a, err := e.startAgent(dir, "agent-latency")
	if err != nil {
		return err
	}
	defer e.stopAgent(a)
	if _, _, err := a.waitReady(30 * time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second) // settle
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := e.watchStarts(ctx)
	if err != nil {
		return err
	}
	k := samples(20)
	ports, err := e.ports(2 * k)
	if err != nil {
		return err
	}
	var aimaS, dockEv, dockRet []float64
	var phCommit, phPass, phStart, dCreate, dStart []float64 // phases, for the diagnosis
	for i := range k {
		// aima: atomic save (temp file in the same directory, fsync, rename).
		name := fmt.Sprintf("%s-lat-%02d", e.run, i)
		tmp := filepath.Join(dir, "services", "."+name+".yaml.tmp")
		if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
			return err
		}
		f, err := os.Create(tmp)
		if err != nil {
			return err
		}
		f.Write(serviceYAML(name, ports[2*i]))
		f.Sync()
		f.Close()
		cname := plan.ContainerName(inst, "service", name, 1)
		chC, ch := w.expect("create", cname), w.expect("start", cname)
		t0 := time.Now()
		if err := os.Rename(tmp, filepath.Join(dir, "services", name+".yaml")); err != nil {
			return err
		}
		select {
		case t1 := <-ch:
			aimaS = append(aimaS, ms(t1.Sub(t0)))
			select {
			case tc := <-chC:
				if tm := a.commitTime("services/" + name + ".yaml"); !tm.IsZero() {
					phCommit = append(phCommit, ms(tm.Sub(t0)))
					phPass = append(phPass, ms(tc.Sub(tm)))
				}
				phStart = append(phStart, ms(t1.Sub(tc)))
			default:
			}
		case <-time.After(30 * time.Second):
			return fmt.Errorf("sample %d: no start event for aima-%s 30 s after the save: %s", i, name, a.logTail())
		}
		time.Sleep(time.Second) // let the pass and the health probe finish

		// Docker: create + start through the SDK, same image and port mapping.
		dname := fmt.Sprintf("aimabench-%s-lat-%02d", e.run, i)
		cport := nat.Port(fmt.Sprintf("%d/tcp", stubPort))
		cfg := &container.Config{
			Image:        e.image,
			Cmd:          []string{"--addr", fmt.Sprintf(":%d", stubPort), "--model", "m"},
			Labels:       map[string]string{labelBench: e.run},
			ExposedPorts: nat.PortSet{cport: {}},
		}
		hcfg := &container.HostConfig{
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			PortBindings:  nat.PortMap{cport: {{HostPort: strconv.Itoa(ports[2*i+1])}}},
		}
		chC, ch = w.expect("create", dname), w.expect("start", dname)
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 = time.Now()
		resp, err := e.dc.ContainerCreate(cctx, cfg, hcfg, nil, nil, dname)
		if err == nil {
			err = e.dc.ContainerStart(cctx, resp.ID, container.StartOptions{})
		}
		tRet := time.Now()
		ccancel()
		if err != nil {
			return fmt.Errorf("docker create+start: %v", err)
		}
		dockRet = append(dockRet, ms(tRet.Sub(t0)))
		select {
		case t1 := <-ch:
			dockEv = append(dockEv, ms(t1.Sub(t0)))
			select {
			case tc := <-chC:
				dCreate = append(dCreate, ms(tc.Sub(t0)))
				dStart = append(dStart, ms(t1.Sub(tc)))
			default:
			}
		case <-time.After(10 * time.Second):
			return fmt.Errorf("no start event for %s", dname)
		}
		time.Sleep(time.Second)
	}
	if got, err := e.running(labelInstance + "=" + inst); err != nil || got != k {
		return fmt.Errorf("%d of %d aima containers running at the end (%v)", got, k, err)
	}
	as := e.series("latency: file saved → start event (aima start)", aimaS)
	ds := e.series("latency: SDK create+start → start event (Docker)", dockEv)
	e.series("latency: SDK create+start, until ContainerStart returned (Docker)", dockRet)
	pc := e.series("latency phase (aima): save → commit logged by the agent", phCommit)
	pp := e.series("latency phase (aima): commit logged → container create event", phPass)
	pst := e.series("latency phase (aima): create event → start event", phStart)
	dc := e.series("latency phase (Docker): create call → create event", dCreate)
	dst := e.series("latency phase (Docker): create event → start event", dStart)
	e.rep.Notes = append(e.rep.Notes, fmt.Sprintf("file saved → started, medians by phase: aima: save → committed (watch debounce + commit) %s, "+
		"→ create event (pass: render, observe, plan, create call) %s, → start event %s; Docker SDK: call → create event %s, → start event %s",
		fmtMs(pc.Median), fmtMs(pp.Median), fmtMs(pst.Median), fmtMs(dc.Median), fmtMs(dst.Median)))
	e.row(Row{
		What:       "file saved (atomic rename) → container started, agent running (median)",
		Aima:       fmtMs(as.Median),
		Comparison: fmtMs(ds.Median) + " (SDK create+start, to the same start event)",
		Target:     "≤ Docker's + 30 ms",
		Pass:       ptr(as.Median <= ds.Median+30),
		Note:       fmt.Sprintf("aima − Docker = %+.0f ms", as.Median-ds.Median),
	})
	return nil
}

// ---------------------------------------------------------------------------
// 4. Create through the CLI (and the API) with N objects in the repo.

func (e *env) benchCreate() error {
	var sizes []int
	for _, s := range strings.Split(*flagSizes, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 {
			return fmt.Errorf("-sizes: %q", s)
		}
		sizes = append(sizes, v)
	}
	k := samples(30)
	var p50s []float64
	var lastDir string
	for _, n := range sizes {
		dir, _, err := e.newState(fmt.Sprintf("create%d", n))
		if err != nil {
			return err
		}
		if err := seedModels(dir, n); err != nil {
			return err
		}
		lastDir = dir
		first, _, err := e.aimaRun(dir, "model", "create", "--name", "bench-warm")
		if err != nil {
			return err
		}
		var cli []float64
		for i := range k {
			d, _, err := e.aimaRun(dir, "model", "create", "--name", fmt.Sprintf("bench-%d", i))
			if err != nil {
				return err
			}
			cli = append(cli, ms(d))
		}
		// Comparison: the git CLI adding and committing one new file.
		var gitS []float64
		for i := range min(k, 10) {
			if err := writeModel(dir, fmt.Sprintf("git-%d", i)); err != nil {
				return err
			}
			t0 := time.Now()
			if err := gitCommit(dir, "git"); err != nil {
				return err
			}
			gitS = append(gitS, ms(time.Since(t0)))
		}
		s := e.series(fmt.Sprintf("create: aima model create, %d objects", n), cli)
		g := e.series(fmt.Sprintf("create: git add -A && git commit, one file, %d objects", n), gitS)
		p50s = append(p50s, s.Median)
		pass := s.Median <= 15
		if !pass && n == sizes[len(sizes)-1] {
			e.diagnose(dir, fmt.Sprintf("model create, %d objects", n), "model", "create", "--name", "bench-gc")
		}
		e.row(Row{
			What:       fmt.Sprintf("`aima model create` whole process, %d objects in the repo: p50 (p90)", n),
			Aima:       fmt.Sprintf("%s (%s)", fmtMs(s.Median), fmtMs(s.P90)),
			Comparison: fmt.Sprintf("%s (git CLI add -A + commit of one file)", fmtMs(g.Median)),
			Target:     "p50 ≤ 15 ms",
			Pass:       ptr(pass),
			Note:       fmt.Sprintf("first create after seeding with the git CLI: %s", fmtMs(ms(first))),
		})
	}
	if len(p50s) > 1 {
		q := p50s[len(p50s)-1] / p50s[0]
		e.row(Row{
			What:   fmt.Sprintf("CLI create flat as the repo grows: p50 at %d / p50 at %d objects", sizes[len(sizes)-1], sizes[0]),
			Aima:   fmt.Sprintf("%.2f×", q),
			Target: "flat (≤ 1.5×, the bench's reading of \"flat\")",
			Pass:   ptr(q <= 1.5),
		})
	}
	e.floor(lastDir)

	// The API, on the largest repository.
	n := sizes[len(sizes)-1]
	a, err := e.startAgent(lastDir, "agent-create")
	if err != nil {
		return err
	}
	defer e.stopAgent(a)
	if _, _, err := a.waitReady(60 * time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)
	var api []float64
	for i := range samples(100) {
		body := fmt.Sprintf(`{"name": "api-%d"}`, i)
		t0 := time.Now()
		r, err := httpc.Post("http://"+a.addr+"/api/model/create", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		d := time.Since(t0)
		if r.StatusCode != 201 {
			return fmt.Errorf("POST /api/model/create: %d %s", r.StatusCode, b)
		}
		api = append(api, ms(d))
	}
	s := e.series(fmt.Sprintf("create: POST /api/model/create, %d objects", n), api)
	e.row(Row{
		What:   fmt.Sprintf("POST /api/model/create, %d objects in the repo, sequential: p50 (p90)", n),
		Aima:   fmt.Sprintf("%s (%s)", fmtMs(s.Median), fmtMs(s.P90)),
		Target: "p50 ≤ 10 ms",
		Pass:   ptr(s.Median <= 10),
	})
	return nil
}

// ---------------------------------------------------------------------------
// 5. Agent start with N objects: ready, RSS, idle CPU.

func (e *env) benchStart() error {
	n := *flagObjects
	dir, _, err := e.newState("start")
	if err != nil {
		return err
	}
	if err := seedModels(dir, n); err != nil {
		return err
	}
	runs := samples(3)
	var healthS, passS, rssS []float64
	var firstPass float64
	for i := range runs {
		a, err := e.startAgent(dir, fmt.Sprintf("agent-start-%d", i))
		if err != nil {
			return err
		}
		h, p, err := a.waitReady(60 * time.Second)
		if err != nil {
			e.stopAgent(a)
			return err
		}
		rss := vmRSS(a.cmd.Process.Pid)
		if i == 0 {
			firstPass = ms(p)
		}
		healthS = append(healthS, ms(h))
		passS = append(passS, ms(p))
		rssS = append(rssS, rss)
		if i < runs-1 {
			e.stopAgent(a)
			continue
		}
		// The last run: idle for a while, touching nothing.
		pid := a.cmd.Process.Pid
		c0, t0 := cpuTicks(pid), time.Now()
		time.Sleep(*flagIdle)
		c1, t1 := cpuTicks(pid), time.Now()
		rssIdle := vmRSS(pid)
		e.stopAgent(a)
		cpu := float64(c1-c0) / clkTck() / t1.Sub(t0).Seconds() * 100
		hs := e.series(fmt.Sprintf("start: exec → first /health 200, %d objects", n), healthS)
		ps := e.series(fmt.Sprintf("start: exec → first sync pass done, %d objects", n), passS)
		rs := e.series("start: VmRSS after the first pass (MB)", rssS)
		e.row(Row{
			What:   fmt.Sprintf("agent start, %d objects: exec → /health 200 and first sync pass done (median of %d; first start %s)", n, runs, fmtMs(firstPass)),
			Aima:   fmt.Sprintf("%s / %s", fmtMs(hs.Median), fmtMs(ps.Median)),
			Target: "≤ 1 s",
			Pass:   ptr(ps.Median <= 1000 && firstPass <= 1000),
		})
		e.row(Row{
			What:   fmt.Sprintf("agent RSS, %d objects: after start / after %s idle", n, *flagIdle),
			Aima:   fmt.Sprintf("%.1f MB / %.1f MB", rs.Median, rssIdle),
			Target: "≤ 80 MB",
			Pass:   ptr(rs.Max <= 80 && rssIdle <= 80),
		})
		e.row(Row{
			What:   fmt.Sprintf("agent idle CPU over %s after the first pass", *flagIdle),
			Aima:   fmt.Sprintf("%.2f %%", cpu),
			Target: "≤ 1 %",
			Pass:   ptr(cpu <= 1),
			Note:   fmt.Sprintf("%d ticks of %.0f/s", c1-c0, clkTck()),
		})
	}
	return nil
}

func vmRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return math.NaN()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

// cpuTicks is utime+stime of pid (all its threads), in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

var clkOnce = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if v, err2 := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && err2 == nil && v > 0 {
		return v
	}
	return 100
})

func clkTck() float64 { return clkOnce() }

// ---------------------------------------------------------------------------
// Results.

type Report struct {
	Run     string            `json:"run"`
	Started string            `json:"started"`
	Image   string            `json:"image"`
	Machine map[string]string `json:"machine"`
	Rows    []Row             `json:"rows"`
	Series  []Series          `json:"series"`
	Notes   []string          `json:"notes,omitempty"`
	Errors  []string          `json:"errors,omitempty"`
}

type Row struct {
	What       string `json:"what"`
	Aima       string `json:"aima"`
	Comparison string `json:"comparison,omitempty"`
	Target     string `json:"target"`
	Pass       *bool  `json:"pass,omitempty"`
	Note       string `json:"note,omitempty"`
}

type Series struct {
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	N       int       `json:"n"`
	Median  float64   `json:"median"`
	P90     float64   `json:"p90"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

func (e *env) row(r Row) {
	e.rep.Rows = append(e.rep.Rows, r)
	pf := "—"
	if r.Pass != nil {
		pf = map[bool]string{true: "pass", false: "FAIL"}[*r.Pass]
	}
	fmt.Fprintf(os.Stderr, "   %s: aima %s | %s | %s | %s\n", r.What, r.Aima, r.Comparison, r.Target, pf)
}

func (e *env) series(name string, s []float64) Series {
	unit := "ms"
	if strings.Contains(name, "(MB)") {
		unit = "MB"
	}
	sr := Series{Name: name, Unit: unit, N: len(s), Samples: s}
	if len(s) > 0 {
		sorted := slices.Clone(s)
		slices.Sort(sorted)
		sr.Median = median(sorted)
		sr.P90 = sorted[int(math.Ceil(0.9*float64(len(sorted))))-1]
		sr.Min, sr.Max = sorted[0], sorted[len(sorted)-1]
	}
	e.rep.Series = append(e.rep.Series, sr)
	return sr
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func samples(def int) int {
	if *flagN > 0 && *flagN < def {
		return *flagN
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtMs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func joinMs(vs []float64) string {
	var s []string
	for _, v := range vs {
		s = append(s, fmtMs(v))
	}
	return strings.Join(s, ", ")
}

func ptr[T any](v T) *T { return &v }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

var composeVersion = sync.OnceValue(func() string {
	out, err := exec.Command("docker-compose", "version", "--short").Output()
	if err != nil {
		return "docker-compose"
	}
	return "docker-compose " + strings.TrimSpace(string(out))
})

func (e *env) printMachine() {
	m := map[string]string{
		"nproc":  strconv.Itoa(runtime.NumCPU()),
		"go":     runtime.Version(),
		"image":  e.image,
		"aima":   e.aima,
		"docker": "?",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, err := e.dc.ServerVersion(ctx); err == nil {
		m["docker"] = fmt.Sprintf("%s (API %s, %s, storage via daemon)", v.Version, v.APIVersion, v.KernelVersion)
	}
	if info, err := e.dc.Info(ctx); err == nil {
		m["docker"] = strings.Replace(m["docker"], "storage via daemon", "storage "+info.Driver, 1)
		m["memory"] = fmt.Sprintf("%.1f GiB", float64(info.MemTotal)/(1<<30))
		m["containers before"] = fmt.Sprintf("%d (%d running)", info.Containers, info.ContainersRunning)
	}
	m["docker-compose"] = composeVersion()
	if out, err := exec.Command("git", "--version").Output(); err == nil {
		m["git"] = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavg"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if out, err := exec.Command(e.aima, "version").Output(); err == nil {
		m["aima version"] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	e.rep.Machine = m
	fmt.Printf("# aima bench (run %s, %s)\n\n", e.run, e.rep.Started)
	keys := []string{"nproc", "cpu", "memory", "loadavg", "docker", "docker-compose", "git", "go", "aima version", "image", "containers before"}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			fmt.Printf("- %s: %s\n", k, v)
		}
	}
	fmt.Println()
}

func (e *env) printReport() {
	fmt.Println("| what | aima | comparison | target | result |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range e.rep.Rows {
		pf := "—"
		if r.Pass != nil {
			pf = map[bool]string{true: "pass", false: "**FAIL**"}[*r.Pass]
		}
		what := r.What
		if r.Note != "" {
			what += " — " + r.Note
		}
		comp := r.Comparison
		if comp == "" {
			comp = "—"
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", esc(what), esc(r.Aima), esc(comp), esc(r.Target), pf)
	}
	fmt.Println()
	fmt.Println("Raw samples:")
	fmt.Println()
	fmt.Println("| series | n | median | p90 | min | max |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range e.rep.Series {
		f := fmtMs
		if s.Unit == "MB" {
			f = func(v float64) string { return fmt.Sprintf("%.1f MB", v) }
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", esc(s.Name), s.N, f(s.Median), f(s.P90), f(s.Min), f(s.Max))
	}
	for _, n := range e.rep.Notes {
		fmt.Printf("\n%s\n", "```\n"+strings.TrimRight(n, "\n")+"\n```")
	}
	if len(e.rep.Errors) > 0 {
		fmt.Println("\nErrors:")
		for _, er := range e.rep.Errors {
			fmt.Printf("- %s\n", strings.ReplaceAll(er, "\n", "\n  "))
		}
	}
}

func esc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
