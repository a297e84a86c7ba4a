package unit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// started is unit.Services that starts whatever it is asked to at once and
// remembers what it was asked.
type started struct {
	routeOnly
	st      *state.Store
	running map[string]bool
	calls   []string
}

func (s *started) SetState(_ context.Context, kind, name, want string) error {
	s.calls = append(s.calls, kind+" "+name+" "+want)
	if e, err := s.st.Get(state.KindService, name); err == nil && e.Object.(*state.Service).State == map[string]string{"running": ""}[want] {
		return nil // as the real one: no commit when the file says so already
	}
	_, err := s.st.Update(state.KindService, name, "", func(o state.Object) (state.Object, error) {
		o.(*state.Service).State = want
		return o, nil
	})
	return err
}
func (s *started) Converge(context.Context, string, string) error { return nil }
func (s *started) Status(_ context.Context, _, name string) (map[string]any, error) {
	if s.running[name] {
		return map[string]any{"status": "running"}, nil
	}
	return map[string]any{"status": "stopped"}, nil
}
func (s *started) Wait(_ context.Context, _, name, want string, _ time.Duration) (map[string]any, error) {
	s.running[name] = want == "running"
	e, _ := s.st.Get(state.KindService, name)
	port := e.Object.(*state.Service).Port
	return map[string]any{"status": want, "endpoint": fmt.Sprintf("http://127.0.0.1:%d", port)}, nil
}

// onGPU makes env's machine have one NVIDIA GPU with free of total GB
// and 16 GB of memory.
func onGPU(env *unit.Env, name string, total, free float64) {
	env.Detect = func(context.Context) device.Device {
		return device.Device{OS: "linux", MemoryTotalMB: 16 << 10, MemoryAvailMB: 14 << 10, GPUs: []device.GPU{
			{Index: 0, Vendor: "NVIDIA", Name: name, MemoryTotalMB: int64(total * 1024), MemoryFreeMB: int64(free * 1024), MemoryUsedMB: int64((total - free) * 1024)}}}
	}
}

func head(t *testing.T, st *state.Store) string {
	t.Helper()
	rp, err := st.Repo()
	if err != nil {
		t.Fatal(err)
	}
	log, err := rp.Log("", 1)
	if err != nil {
		t.Fatal(err)
	}
	return log[0].Message + " " + strings.Join(log[0].Files, ",")
}

// TestRunStub: model.run writes model and service in one commit, starts
// the service and answers where it is; a dry run lists the same writes
// and commits nothing; a second run reuses the service.
func TestRunStub(t *testing.T) {
	env := newEnv(t)
	svc := &started{st: env.Store, running: map[string]bool{}}
	env.Services = svc
	before := head(t, env.Store)
	dry, err := unit.Default.Call(context.Background(), env, "model.run", map[string]any{"model": "tinyllama", "engine": "stub", "dry_run": true})
	if err != nil {
		t.Fatal(err)
	}
	if now := head(t, env.Store); now != before || len(svc.calls) != 0 {
		t.Errorf("the dry run committed %q or started %v", now, svc.calls)
	}
	if writes, _ := dry["writes"].([]any); len(writes) != 2 || !strings.Contains(fmt.Sprint(dry["steps"]), "write model/tinyllama and service/tinyllama in one commit") {
		t.Errorf("dry run: %v", dry)
	}

	out, err := unit.Default.Call(context.Background(), env, "model.run", map[string]any{"model": "tinyllama", "engine": "stub"})
	if err != nil {
		t.Fatal(err)
	}
	if got := head(t, env.Store); got != "run: tinyllama models/tinyllama.yaml,services/tinyllama.yaml" {
		t.Errorf("last commit %q, want one commit of the model and the service", got)
	}
	if out["status"] != "running" || out["recipe"] != "tinyllama-stub" || out["engine"] != "stub" || !strings.HasPrefix(out["endpoint"].(string), "http://127.0.0.1:") || out["port"].(float64) < 8000 {
		t.Errorf("run: %v", out)
	}
	e, err := env.Store.Get(state.KindModel, "tinyllama")
	if err != nil || e.Object.(*state.Model).Size == "" || e.Object.(*state.Model).Labels["aima.recipe"] != "tinyllama-stub" {
		t.Errorf("model file: %+v %v", e.Object, err)
	}

	again, err := unit.Default.Call(context.Background(), env, "model.run", map[string]any{"model": "tinyllama", "engine": "stub"})
	if err != nil || again["reused"] != true || again["port"] != out["port"] || !strings.Contains(fmt.Sprint(again["steps"]), "reuse service tinyllama") {
		t.Errorf("second run: %v %v", again, err)
	}
}

// TestRunRefusesWhatDoesNotFit: on a 10 GB GPU with 9.5 GB free, Qwen2.5
// 7B on vLLM (18.1 GB) is refused with the numbers and nothing is
// written; --force goes on. A too-big service is refused by
// service.create, service.start and catalog.apply too.
func TestRunRefusesWhatDoesNotFit(t *testing.T) {
	env := newEnv(t)
	env.Services = &started{st: env.Store, running: map[string]bool{}}
	onGPU(env, "NVIDIA GeForce RTX 3080", 10, 9.5)
	before := head(t, env.Store)
	_, err := unit.Default.Call(context.Background(), env, "model.run", map[string]any{"model": "qwen2.5-7b", "engine": "vllm"})
	want := "model qwen2.5-7b needs 18.1 GB of GPU memory; GPU 0 (NVIDIA GeForce RTX 3080) has 9.5 GB free of 10 GB (--force runs it anyway)"
	if !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if now := head(t, env.Store); now != before {
		t.Errorf("a refused run committed %q", now)
	}
	// Without --engine the 3080 is a small GPU: ollama's 4-bit model fits.
	if out, err := unit.Default.Call(context.Background(), env, "model.run", map[string]any{"model": "qwen2.5-7b", "dry_run": true}); err != nil || out["engine_type"] != "ollama" || out["need_gb"] != 6.3 {
		t.Errorf("dry run without --engine: %v %v", out, err)
	}

	// catalog.apply and service.start check the same.
	if _, err := unit.Default.Call(context.Background(), env, "catalog.apply", map[string]any{"recipe": "qwen2.5-14b-vllm"}); !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "needs 34 GB of GPU memory") {
		t.Errorf("catalog.apply: %v", err)
	}
	if _, err := env.Store.Apply([]state.Object{&state.Model{Name: "big", Source: "huggingface", Repo: "Qwen/Qwen2.5-7B-Instruct", Size: "14.2g"}, &state.Service{Name: "big", Model: "big", Engine: "vllm", State: "stopped"}},
		[]*state.Kind{state.KindModel, state.KindService}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := unit.Default.Call(context.Background(), env, "service.create", map[string]any{"name": "big2", "model": "big", "engine": "vllm"}); !errors.Is(err, state.ErrConflict) ||
		!strings.Contains(err.Error(), "needs 18.1 GB of GPU memory; GPU 0 (NVIDIA GeForce RTX 3080) has 9.5 GB free of 10 GB (create it with state stopped") || env.Store.Exists(state.KindService, "big2") {
		t.Errorf("service.create: %v", err)
	}
	if _, err := unit.Default.Call(context.Background(), env, "service.start", map[string]any{"name": "big"}); !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "needs 18.1 GB") {
		t.Errorf("service.start: %v", err)
	}
	if _, err := unit.Default.Call(context.Background(), env, "service.start", map[string]any{"name": "big", "force": true}); err != nil {
		t.Errorf("service.start with force: %v", err)
	}
}

// TestRunPulls: a model from an http URL is pulled before its service
// starts (the service is written stopped, then started), with progress.
func TestRunPulls(t *testing.T) {
	body := strings.Repeat("w", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "tiny.gguf", time.Time{}, strings.NewReader(body))
	}))
	defer srv.Close()
	env := newEnv(t)
	fake := &started{st: env.Store, running: map[string]bool{}}
	env.Services = fake
	if _, err := env.Store.Create(state.KindCatalog, &state.Recipe{Name: "tiny-gguf", EngineType: "llamacpp",
		Models: []state.RecipeModel{{Name: "tiny", Source: "http", URL: srv.URL + "/tiny.gguf", Size: "1m"}}}); err != nil {
		t.Fatal(err)
	}
	var done, total int64
	ctx := unit.WithProgress(context.Background(), func(_ string, d, n int64) { done, total = d, n })
	out, err := unit.Default.Call(ctx, env, "model.run", map[string]any{"model": "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := env.Store.Get(state.KindModel, "tiny")
	path := e.Object.(*state.Model).Path
	if b, err := os.ReadFile(path); err != nil || len(b) != len(body) {
		t.Errorf("weights at %q: %d bytes, %v", path, len(b), err)
	}
	if done != int64(len(body)) || total != int64(len(body)) {
		t.Errorf("progress %d of %d", done, total)
	}
	if strings.Join(fake.calls, ";") != "service tiny running" || out["status"] != "running" {
		t.Errorf("calls %v, answer %v", fake.calls, out)
	}
	if !strings.Contains(fmt.Sprint(out["steps"]), "pull the weights of tiny from http") {
		t.Errorf("steps %v", out["steps"])
	}
}
