package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

func setPolicy(t *testing.T, st *state.Store, text string) {
	t.Helper()
	if err := state.WriteFile(filepath.Join(st.Dir, filepath.FromSlash(state.PolicyPath)), []byte(text)); err != nil {
		t.Fatal(err)
	}
}

// wantPolicyProblem asserts err is invalid with a policy problem on field.
func wantPolicyProblem(t *testing.T, what string, err error, field string) {
	t.Helper()
	if !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("%s: %v, want invalid", what, err)
	}
	for _, p := range state.Problems(err) {
		if p.Field == field && strings.Contains(p.Message, "policy:") && strings.Contains(p.Message, state.PolicyPath) {
			return
		}
	}
	t.Errorf("%s: no policy problem on %s: %v", what, field, err)
}

// TestPolicyDefaults: with the default policy a file can mount nothing of
// the host but .local/models/ and named volumes, and read none of the
// agent's environment; whatever asks for more is refused naming the rule.
func TestPolicyDefaults(t *testing.T) {
	st := testenv.NewStore(t)
	// Init wrote the commented default policy, and it is the default.
	b, err := os.ReadFile(filepath.Join(st.Dir, filepath.FromSlash(state.PolicyPath)))
	if err != nil {
		t.Fatalf("init wrote no policy: %v", err)
	}
	p, err := state.ParsePolicy(b)
	if err != nil || p.PulledSettings || len(p.HostPaths) != 0 || len(p.Env) != 0 || !p.ImageAllowed("vllm/vllm-openai:v0.6.4") {
		t.Fatalf("default policy file: %+v %v", p, err)
	}

	models := state.ModelsDir(st.Dir)
	_, err = st.Create(state.KindModel, &state.Model{Name: "ok", Source: "local", Path: filepath.Join(models, "ok.gguf")})
	if err != nil {
		t.Fatalf("a model under .local/models: %v", err)
	}
	for _, path := range []string{"/etc/shadow", "/", filepath.Join(models, "..", "..", "token"), "/root/.ssh"} {
		_, err := st.Create(state.KindModel, &state.Model{Name: "bad", Source: "local", Path: path})
		wantPolicyProblem(t, "model path "+path, err, "/path")
	}
	_, err = st.Create(state.KindApp, &state.App{Name: "root", Image: "busybox", Volumes: []string{"/:/host", "/var/run/docker.sock:/var/run/docker.sock"}})
	wantPolicyProblem(t, "app mounting /", err, "/volumes/0")
	wantPolicyProblem(t, "app mounting the docker socket", err, "/volumes/1")
	if _, err := st.Create(state.KindApp, &state.App{Name: "webui", Image: "ghcr.io/open-webui/open-webui:main", Volumes: []string{"webui-data:/app/backend/data"}}); err != nil {
		t.Errorf("an app with a named volume: %v", err)
	}
	_, err = st.Create(state.KindService, &state.Service{Name: "thief", Model: "ok", Engine: "stub", Port: 18000, Env: map[string]string{"X": "${env:AIMA_GIT_TOKEN}"}})
	wantPolicyProblem(t, "${env:} of the agent", err, "/env/X")
	_, err = st.Create(state.KindEngine, &state.Engine{Name: "e", Image: "x/y:1", Env: map[string]string{"HF_TOKEN": "${env:HF_TOKEN}"}})
	wantPolicyProblem(t, "${env:} in an engine", err, "/env/HF_TOKEN")
	for _, name := range []string{"root", "thief", "e", "bad"} {
		for _, k := range []*state.Kind{state.KindApp, state.KindService, state.KindEngine, state.KindModel} {
			if _, err := os.Stat(filepath.Join(st.Dir, filepath.FromSlash(k.Path(name)))); err == nil {
				t.Errorf("%s %s was written although refused", k.Name, name)
			}
		}
	}
}

// TestPolicyAllows: the owner widens the policy in .local/policy.yaml and
// what it lists is accepted; narrowing images refuses the others.
func TestPolicyAllows(t *testing.T) {
	st := testenv.NewStore(t)
	data := t.TempDir()
	setPolicy(t, st, "images: [\"ghcr.io/open-webui/*\", \"aima-test/*\"]\nhost_paths: ["+data+"]\nenv: [HF_TOKEN]\n")
	if _, err := st.Create(state.KindApp, &state.App{Name: "webui", Image: "ghcr.io/open-webui/open-webui:main", Volumes: []string{data + "/webui:/data"}}); err != nil {
		t.Errorf("allowed host path and image: %v", err)
	}
	if _, err := st.Create(state.KindEngine, &state.Engine{Name: "e", Image: "aima-test/e:1", Env: map[string]string{"HF_TOKEN": "${env:HF_TOKEN}"}}); err != nil {
		t.Errorf("allowed env name: %v", err)
	}
	_, err := st.Create(state.KindApp, &state.App{Name: "miner", Image: "docker.io/evil/miner:latest"})
	wantPolicyProblem(t, "image outside the patterns", err, "/image")
	_, err = st.Create(state.KindApp, &state.App{Name: "sibling", Image: "aima-test/x", Volumes: []string{data + "-other:/data"}})
	wantPolicyProblem(t, "a sibling of an allowed path", err, "/volumes/0")

	// A follower that must stay on loopback whatever a pushed file says.
	setPolicy(t, st, "host_ips: []\n")
	_, err = st.Create(state.KindApp, &state.App{Name: "lan", Image: "aima-test/x", HostIP: "0.0.0.0"})
	wantPolicyProblem(t, "host_ip outside host_ips", err, "/host_ip")
	if _, err := st.Create(state.KindApp, &state.App{Name: "lo", Image: "aima-test/x", HostIP: "127.0.0.1"}); err != nil {
		t.Errorf("host_ip 127.0.0.1 with host_ips: []: %v", err)
	}
}

// TestPolicyEditsAndBrokenPolicy: a hand edit that breaks the policy is
// not committed (the last committed version stays in effect), and a policy
// file that does not parse is an error while the defaults apply.
func TestPolicyEditsAndBrokenPolicy(t *testing.T) {
	st := testenv.NewStore(t)
	if _, err := st.Create(state.KindApp, &state.App{Name: "web", Image: "busybox"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(st.Dir, "apps", "web.yaml")
	if err := os.WriteFile(path, []byte("image: busybox\nvolumes: [\"/etc:/host-etc\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Paths) != 0 || len(rec.Problems) == 0 || !strings.Contains(rec.Problems[0].Message, "policy:") {
		t.Errorf("edit breaking the policy: committed %v, problems %v", rec.Paths, rec.Problems)
	}
	e, err := st.Get(state.KindApp, "web")
	if err != nil || e.Problem == nil || len(e.Object.(*state.App).Volumes) != 0 {
		t.Errorf("in effect: %+v %v, want the committed version without volumes and the problem", e.Object, err)
	}

	// A policy that would widen the host paths if it were half applied, with
	// an error after the widening line: none of it is.
	setPolicy(t, st, "host_paths: [/]\nbogus: 1\n")
	p, err := st.Policy()
	if err == nil || !strings.Contains(err.Error(), state.PolicyPath) {
		t.Errorf("broken policy: %v, want an error naming %s", err, state.PolicyPath)
	}
	if len(p.HostPaths) != 0 {
		t.Errorf("a broken policy applies host paths %v, want the defaults (none)", p.HostPaths)
	}
	_, err = st.Create(state.KindApp, &state.App{Name: "root", Image: "busybox", Volumes: []string{"/:/host"}})
	wantPolicyProblem(t, "with a broken policy the defaults apply", err, "/volumes/0")
}
