package main

// Issue 11: attacks by anyone who can push to a followed remote, on the real
// binary and the real daemon. A publisher's state directory is pushed to a
// bare repository; a follower is made from it with `aima init --from` and
// its agent (`aima start --follow origin/main`) follows it; an outsider
// pushes with plain git from a clone, signing commits (or not) with keys
// made in-process. Each test shows the attack refused (nothing applied, no
// container, aima status and GET /api/status naming the commit and why)
// and the legitimate path still working.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/docker/docker/api/types/container"

	"github.com/aima-dev/aima/internal/testenv"
)

// followPair is a publisher, the bare repository it pushed to, and a
// follower made from it (its own directory, instance and API port; its
// agent not started yet).
type followPair struct {
	t      *testing.T
	pub    *aimaEnv
	fol    *aimaEnv
	url    string
	portLo int // the first port of port_range (shared by both: it is in aima.yaml)
	stub   string
}

func newFollowPair(t *testing.T) *followPair {
	t.Helper()
	pub := newAimaEnv(t, 4)
	bare := filepath.Join(t.TempDir(), "state.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v %s", err, out)
	}
	p := &followPair{t: t, pub: pub, url: "file://" + bare, stub: testenv.StubImage(t)}
	pub.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	pub.mustAima("remote", "add", "origin", p.url)
	pub.mustAima("push")
	set, err := os.ReadFile(filepath.Join(pub.dir, "aima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(set), "\n") {
		if v, ok := strings.CutPrefix(l, "port_range: "); ok {
			lo, _, _ := strings.Cut(v, "-")
			p.portLo, _ = strconv.Atoi(lo)
		}
	}
	if p.portLo == 0 {
		t.Fatalf("no port_range in aima.yaml:\n%s", set)
	}
	p.fol = p.clone()
	return p
}

// clone is `aima init --from` the bare repository into a new directory
// with its own instance and API port.
func (p *followPair) clone() *aimaEnv {
	p.t.Helper()
	e := &aimaEnv{t: p.t, bin: p.pub.bin, docker: p.pub.docker, dir: filepath.Join(p.t.TempDir(), ".aima"),
		addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(p.t)), home: p.t.TempDir()}
	e.mustAima("init", "--from", p.url)
	inst, err := os.ReadFile(filepath.Join(e.dir, ".local", "instance"))
	if err != nil {
		p.t.Fatalf("init --from gave no instance of its own: %v", err)
	}
	e.instance = strings.TrimSpace(string(inst))
	testenv.RemoveContainers(p.t, e.docker, e.instance)
	return e
}

// follow starts the follower's agent, following origin/main every second.
func (p *followPair) follow(args []string, env ...string) *agentProc {
	p.t.Helper()
	return p.fol.startAgentArgs(append([]string{"--follow", "origin/main", "--interval", "1s"}, args...), env...)
}

// outsider is a plain git clone of the followed repository: whoever can
// push to it, with the files, signatures and history they choose.
type outsider struct {
	t    *testing.T
	dir  string
	home string
}

func (p *followPair) outsider() *outsider {
	p.t.Helper()
	o := &outsider{t: p.t, dir: filepath.Join(p.t.TempDir(), "work"), home: p.t.TempDir()}
	o.git("clone", "-q", p.url, o.dir)
	return o
}

func (o *outsider) git(args ...string) string {
	o.t.Helper()
	c := exec.Command("git", args...)
	if _, err := os.Stat(o.dir); err == nil {
		c.Dir = o.dir
	}
	c.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+o.home,
		"GIT_AUTHOR_NAME=Outsider", "GIT_AUTHOR_EMAIL=out@example.com", "GIT_COMMITTER_NAME=Outsider", "GIT_COMMITTER_EMAIL=out@example.com")
	out, err := c.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (o *outsider) write(rel, content string) {
	o.t.Helper()
	f := filepath.Join(o.dir, rel)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		o.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		o.t.Fatal(err)
	}
}

func (o *outsider) read(rel string) string {
	o.t.Helper()
	b, err := os.ReadFile(filepath.Join(o.dir, rel))
	if err != nil {
		o.t.Fatal(err)
	}
	return string(b)
}

// commit records every change, signed by key unless it is nil (go-git's
// CommitOptions.SignKey, as a signing publisher would), and pushes it;
// force pushes over whatever the remote has. It returns the commit.
func (o *outsider) commit(msg string, key *openpgp.Entity, force bool) string {
	o.t.Helper()
	o.git("add", "-A")
	h := testenv.Commit(o.t, o.dir, msg, key)
	args := []string{"push", "-q", "origin", "HEAD:main"}
	if force {
		args = append(args, "--force")
	}
	o.git(args...)
	return h
}

// trustKey puts a public key in the state directory's .local/trusted-keys/.
func (e *aimaEnv) trustKey(name string, pub []byte) {
	e.t.Helper()
	dir := filepath.Join(e.dir, ".local", "trusted-keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pub, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// followState is the follower's state as `aima status -o json` shows it.
func (e *aimaEnv) followState() map[string]any {
	e.t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(e.mustAima("status", "-o", "json")), &st); err != nil {
		e.t.Fatal(err)
	}
	f, _ := st["follow"].(map[string]any)
	return f
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// waitRefused waits until the follower has refused rev in an attempt made
// after since, and checks that aima status and GET /api/status both name
// the commit and say each of want. It returns the error reported.
func (e *aimaEnv) waitRefused(since time.Time, rev string, want ...string) string {
	e.t.Helper()
	var f map[string]any
	waitUntil(e.t, 30*time.Second, "the follower refuses "+rev[:12], func() (bool, string) {
		f = e.followState()
		at, _ := time.Parse(time.RFC3339Nano, str(f, "last_attempt"))
		return at.After(since) && str(f, "fetched_revision") == rev && str(f, "last_outcome") == "refused", fmt.Sprint(f)
	})
	msg := str(f, "last_error")
	api := e.mustCall("GET", "/api/status", "", 200)
	af, _ := api["follow"].(map[string]any)
	for _, w := range append([]string{rev[:12], "not applied"}, want...) {
		if !strings.Contains(msg, w) {
			e.t.Errorf("aima status: the follower's error does not say %q: %s", w, msg)
		}
		if !strings.Contains(str(af, "last_error"), w) {
			e.t.Errorf("GET /api/status: the follower's error does not say %q: %v", w, af)
		}
	}
	if st := e.mustAima("status"); !strings.Contains(st, rev[:12]) {
		e.t.Errorf("aima status does not name the refused commit:\n%s", st)
	}
	e.t.Logf("refused as expected: %s", msg)
	return msg
}

// waitApplied waits until the follower has applied rev.
func (e *aimaEnv) waitApplied(rev string) {
	e.t.Helper()
	waitUntil(e.t, 30*time.Second, "the follower applies "+rev[:12], func() (bool, string) {
		f := e.followState()
		return str(f, "applied_revision") == rev && str(f, "last_error") == "", fmt.Sprint(f)
	})
}

func (e *aimaEnv) head() string {
	e.t.Helper()
	return strings.TrimSpace(e.mustGit("rev-parse", "HEAD"))
}

// noFile asserts that the state directory has no file rel.
func (e *aimaEnv) noFile(rel string) {
	e.t.Helper()
	if _, err := os.Stat(filepath.Join(e.dir, rel)); !os.IsNotExist(err) {
		e.t.Errorf("%s of a refused revision is in the state directory (%v)", rel, err)
	}
}

// objectContainer returns the instance's container of an app or service.
func (e *aimaEnv) objectContainer(kind, name string) *container.Summary {
	e.t.Helper()
	for _, c := range e.containers() {
		if c.Labels["aima.kind"] == kind && c.Labels["aima.name"] == name {
			return &c
		}
	}
	return nil
}

// waitRunning waits for the running container of an app or service and
// returns what Docker says of it.
func (e *aimaEnv) waitRunning(kind, name string) container.InspectResponse {
	e.t.Helper()
	var info container.InspectResponse
	waitUntil(e.t, 60*time.Second, kind+" "+name+" running", func() (bool, string) {
		c := e.objectContainer(kind, name)
		if c == nil {
			return false, describe(e.containers())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		info, err = e.docker.ContainerInspect(ctx, c.ID)
		return err == nil && info.State != nil && info.State.Running, describe(e.containers())
	})
	return info
}

// TestAttackFollowUnsignedCommit (issue 11 a): with --verify-signatures, an
// unsigned commit and a commit signed by a key not in .local/trusted-keys/
// are refused and reported; the owner's signed commit is applied and
// converged. aima pull --verify-signatures refuses with exit 4 the same way.
func TestAttackFollowUnsignedCommit(t *testing.T) {
	p := newFollowPair(t)
	fol := p.fol

	// Verifying with nothing to verify against: start fails, naming the directory.
	_, errOut, code := fol.aima("start", "--addr", fol.addr, "--follow", "origin/main", "--verify-signatures")
	if code == 0 || !strings.Contains(errOut, filepath.Join(fol.dir, ".local", "trusted-keys")) {
		t.Fatalf("start --verify-signatures without trusted keys: exit %d: %s", code, errOut)
	}
	owner, ownerPub := testenv.NewKey(t, "owner")
	stranger, _ := testenv.NewKey(t, "stranger")
	fol.trustKey("owner.asc", ownerPub)
	p.follow([]string{"--verify-signatures"})
	good := fol.head()
	waitUntil(t, 30*time.Second, "the follower's first attempt", func() (bool, string) {
		f := fol.followState()
		return str(f, "last_outcome") != "" && f["verify_signatures"] == true, fmt.Sprint(f)
	})

	app := fmt.Sprintf("image: %s\n", p.stub)
	out := p.outsider()
	c := p.clone() // pulls with the CLI
	c.trustKey("owner.asc", ownerPub)
	before := c.head()

	// An unsigned commit: refused, nothing applied.
	since := time.Now()
	out.write("apps/evil.yaml", app)
	unsigned := out.commit("unsigned", nil, false)
	fol.waitRefused(since, unsigned, "not signed", ".local/trusted-keys/")
	fol.noFile("apps/evil.yaml")

	// The same with aima pull --verify-signatures, in another clone: exit 4.
	if _, errOut, code := c.aima("pull", "--verify-signatures"); code != 4 || !strings.Contains(errOut, unsigned[:12]) || !strings.Contains(errOut, "not signed") {
		t.Errorf("aima pull --verify-signatures of an unsigned commit: exit %d, %s", code, errOut)
	}
	if c.head() != before {
		t.Error("aima pull --verify-signatures moved HEAD")
	}

	// Signed by a key the follower does not trust: refused.
	since = time.Now()
	out.write("apps/evil2.yaml", app)
	byStranger := out.commit("signed by a stranger", stranger, false)
	fol.waitRefused(since, byStranger, "signed by key", "not in .local/trusted-keys/")
	fol.noFile("apps/evil2.yaml")
	if h := fol.head(); h != good {
		t.Errorf("the follower's HEAD moved to %s", h)
	}

	// The owner's signed commit (which drops the outsider's files) is applied.
	out.git("rm", "-q", "apps/evil.yaml", "apps/evil2.yaml")
	out.write("apps/good.yaml", app)
	byOwner := out.commit("signed by the owner", owner, false)
	fol.waitApplied(byOwner)
	fol.waitRunning("app", "good")
	for _, n := range []string{"evil", "evil2"} {
		if c := fol.objectContainer("app", n); c != nil {
			t.Errorf("a container of the refused app %s: %s", n, describe(fol.containers()))
		}
	}
	if _, errOut, code := c.aima("pull", "--verify-signatures"); code != 0 {
		t.Errorf("aima pull --verify-signatures of the owner's commit: exit %d, %s", code, errOut)
	}
	if c.head() != byOwner {
		t.Errorf("aima pull --verify-signatures: HEAD %s, want %s", c.head(), byOwner)
	}
	if st := fol.mustAima("status"); !strings.Contains(st, "signatures verified") {
		t.Errorf("aima status does not say signatures are verified:\n%s", st)
	}
	fol.checkGit(true)
}

// TestAttackFollowRewrittenHistory (issue 11 b): a force-push that drops
// the revision the follower applied is refused, also after the agent
// restarts, and accepted once the owner starts it with --allow-rewrite.
func TestAttackFollowRewrittenHistory(t *testing.T) {
	p := newFollowPair(t)
	fol := p.fol
	agent := p.follow(nil)

	p.pub.mustAima("model", "create", "--name", "m2", "--source", "ollama", "--repo", "phi")
	p.pub.mustAima("push")
	applied := p.pub.head()
	fol.waitApplied(applied)

	// The outsider rewrites the branch: drops m2, adds their own model.
	out := p.outsider()
	out.git("reset", "-q", "--hard", "HEAD~1")
	out.write("models/evil.yaml", "source: ollama\nrepo: evil\n")
	since := time.Now()
	rewritten := out.commit("rewritten", nil, true)
	fol.waitRefused(since, rewritten, "rewritten", applied, "--allow-rewrite")
	fol.noFile("models/evil.yaml")
	if fol.head() != applied {
		t.Errorf("the follower's HEAD moved to %s", fol.head())
	}

	// The agent restarts: the rewrite is still recognised.
	agent.kill()
	since = time.Now()
	agent = p.follow(nil)
	fol.waitRefused(since, rewritten, "rewritten", applied)
	fol.noFile("models/evil.yaml")

	// The owner allows it: applied (merged: no local commit is lost).
	agent.kill()
	p.follow([]string{"--allow-rewrite"})
	fol.waitApplied(rewritten)
	if _, err := os.Stat(filepath.Join(fol.dir, "models/evil.yaml")); err != nil {
		t.Errorf("--allow-rewrite: %v", err)
	}
	if _, err := fol.git("merge-base", "--is-ancestor", applied, "HEAD"); err != nil {
		t.Errorf("the revision applied before is no longer in the follower's history: %v", err)
	}
	fol.checkGit(true)
}

// TestAttackFollowHostMounts (issue 11 c): a pushed app that mounts / and
// the Docker socket is refused by a default follower and never runs; the
// same app without the mounts runs.
func TestAttackFollowHostMounts(t *testing.T) {
	p := newFollowPair(t)
	fol := p.fol
	p.follow(nil)
	out := p.outsider()

	since := time.Now()
	out.write("apps/rootkit.yaml", fmt.Sprintf("image: %s\nvolumes:\n  - /:/host\n  - /var/run/docker.sock:/var/run/docker.sock\n", p.stub))
	evil := out.commit("mount the host", nil, false)
	fol.waitRefused(since, evil, "apps/rootkit.yaml", "/volumes/0", "/volumes/1", `"/"`, "/var/run/docker.sock", "host_paths", ".local/policy.yaml")
	fol.noFile("apps/rootkit.yaml")
	if c := fol.objectContainer("app", "rootkit"); c != nil {
		t.Fatalf("the refused app has a container: %s", describe(fol.containers()))
	}

	out.write("apps/rootkit.yaml", fmt.Sprintf("image: %s\n", p.stub))
	fine := out.commit("no host mounts", nil, false)
	fol.waitApplied(fine)
	info := fol.waitRunning("app", "rootkit")
	for _, m := range info.Mounts {
		if m.Source == "/" || strings.Contains(m.Source, "docker.sock") {
			t.Errorf("the app mounts %s", m.Source)
		}
	}
	fol.checkGit(true)
}

// TestAttackFollowEnvSecret (issue 11 d): a pushed service that reads the
// agent's AIMA_GIT_TOKEN through ${env:} is refused by a default follower;
// the token never reaches a container. The service without it runs.
func TestAttackFollowEnvSecret(t *testing.T) {
	p := newFollowPair(t)
	fol := p.fol
	const secret = "s3cret-git-token-of-the-follower"
	p.follow(nil, "AIMA_GIT_TOKEN="+secret)
	out := p.outsider()

	svc := func(x string) string {
		return fmt.Sprintf("model: tiny\nengine: stub\nport: %d\nenv:\n  X: %s\n", p.portLo+1, x)
	}
	since := time.Now()
	out.write("services/leak.yaml", svc("${env:AIMA_GIT_TOKEN}"))
	evil := out.commit("read the agent's token", nil, false)
	fol.waitRefused(since, evil, "services/leak.yaml", "/env/X", "${env:AIMA_GIT_TOKEN}", ".local/policy.yaml")
	fol.noFile("services/leak.yaml")
	if c := fol.objectContainer("service", "leak"); c != nil {
		t.Fatalf("the refused service has a container: %s", describe(fol.containers()))
	}

	out.write("services/leak.yaml", svc("plain"))
	fine := out.commit("no secret", nil, false)
	fol.waitApplied(fine)
	info := fol.waitRunning("service", "leak")
	if !slices.Contains(info.Config.Env, "X=plain") {
		t.Errorf("env %v, want X=plain", info.Config.Env)
	}
	for _, e := range info.Config.Env {
		if strings.Contains(e, secret) {
			t.Errorf("the agent's token is in the container: %s", e)
		}
	}
	fol.checkGit(true)
}

// TestAttackFollowPulledSettings (issue 11 e): a pushed aima.yaml that moves
// the API to 0.0.0.0 (and widens port_range) is refused by a default
// follower; a pushed change of a shared setting (resync) is applied.
func TestAttackFollowPulledSettings(t *testing.T) {
	p := newFollowPair(t)
	fol := p.fol
	p.follow(nil)
	mine := readFile(t, filepath.Join(fol.dir, "aima.yaml"))
	out := p.outsider()
	orig := out.read("aima.yaml")

	set := func(yml, key, value string) string {
		var lines []string
		done := false
		for _, l := range strings.Split(strings.TrimRight(yml, "\n"), "\n") {
			if strings.HasPrefix(l, key+":") {
				l, done = key+": "+value, true
			}
			lines = append(lines, l)
		}
		if !done {
			lines = append(lines, key+": "+value)
		}
		return strings.Join(lines, "\n") + "\n"
	}
	everywhere := fmt.Sprintf("0.0.0.0:%d", testenv.FreePort(t))
	since := time.Now()
	out.write("aima.yaml", set(set(orig, "api", everywhere), "port_range", "1-65535"))
	evil := out.commit("listen everywhere", nil, false)
	fol.waitRefused(since, evil, "aima.yaml", "/api", everywhere, "/port_range", "pulled_settings", ".local/policy.yaml")
	if got := readFile(t, filepath.Join(fol.dir, "aima.yaml")); got != mine {
		t.Errorf("the follower's aima.yaml changed:\n%s", got)
	}

	out.write("aima.yaml", set(orig, "resync", "7s"))
	fine := out.commit("resync", nil, false)
	fol.waitApplied(fine)
	if got := readFile(t, filepath.Join(fol.dir, "aima.yaml")); !strings.Contains(got, "resync: 7s") || strings.Contains(got, "0.0.0.0") {
		t.Errorf("the follower's aima.yaml after a shared setting was pushed:\n%s", got)
	}
	fol.checkGit(true)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPushPullAnyRemoteName: aima push and aima pull work with a remote
// that is not called origin.
func TestPushPullAnyRemoteName(t *testing.T) {
	a := newAimaEnv(t, 2)
	bare := filepath.Join(t.TempDir(), "state.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v %s", err, out)
	}
	url := "file://" + bare
	a.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	a.mustAima("remote", "add", "backup", url)
	if out := a.mustAima("push", "backup"); !strings.Contains(out, "backup/main") {
		t.Errorf("aima push backup: %s", out)
	}
	if got, err := exec.Command("git", "--git-dir", bare, "rev-parse", "main").Output(); err != nil || strings.TrimSpace(string(got)) != a.head() {
		t.Fatalf("the remote is at %s (%v), want %s", got, err, a.head())
	}

	p := &followPair{t: t, pub: a, url: url}
	b := p.clone()
	b.mustAima("remote", "add", "mirror", url)
	a.mustAima("model", "create", "--name", "m2", "--source", "ollama", "--repo", "phi")
	a.mustAima("push", "backup", "main")
	if out := b.mustAima("pull", "mirror"); !strings.Contains(out, "mirror/main") {
		t.Errorf("aima pull mirror: %s", out)
	}
	if b.head() != a.head() {
		t.Errorf("after aima pull mirror: %s, want %s", b.head(), a.head())
	}
	b.mustAima("model", "create", "--name", "m3", "--source", "ollama", "--repo", "qwen")
	b.mustAima("push", "mirror")
	a.mustAima("pull", "backup", "main")
	if a.head() != b.head() {
		t.Errorf("after aima pull backup main: %s, want %s", a.head(), b.head())
	}
	a.checkGit(false)
	b.checkGit(false)
}
