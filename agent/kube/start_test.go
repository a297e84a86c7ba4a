package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/internal/k8senv"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestStart is the "done when": `aima start --runtime kubernetes`
// turns a service file into a Deployment and a Service with aima's labels,
// a changed file updates them, status follows the (simulated) pods, and a
// deleted file prunes them — leaving objects that are not its own alone.
func TestStart(t *testing.T) {
	env := k8senv.Shared(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	st := testenv.NewStore(t)
	set, err := st.Settings()
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's Deployment in the namespace: never touched.
	foreign := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign", Labels: map[string]string{"app": "foreign"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "foreign"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "foreign"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "example.com/x:1"}}},
			},
		},
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(state.KindModel, &state.Model{Name: "tiny"}); err != nil {
		t.Fatal(err)
	}
	// The service's port is the Service's: that something on this machine
	// holds it does not matter.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	if _, err := st.Create(state.KindService, &state.Service{Name: "chat", Model: "tiny", Engine: "stub", Port: port}); err != nil {
		t.Fatal(err)
	}

	base := startAima(t, st.Dir, "--runtime", "kubernetes", "--kubeconfig", env.Kubeconfig, "--namespace", ns)
	token, err := os.ReadFile(filepath.Join(st.Dir, ".local", "token"))
	if err != nil {
		t.Fatal(err)
	}

	// A Deployment and a Service, labelled as aima labels its containers.
	managed := metav1.ListOptions{LabelSelector: "aima.managed=true,aima.name=chat"}
	var dep appsv1.Deployment
	poll(t, "a Deployment of service chat", func() (bool, string) {
		list, err := env.Client.AppsV1().Deployments(ns).List(ctx, managed)
		if err != nil || len(list.Items) != 1 {
			return false, fmt.Sprintf("%v %v", list, err)
		}
		dep = list.Items[0]
		return true, ""
	})
	for k, want := range map[string]string{container.LabelInstance: set.Instance, container.LabelKind: "service", container.LabelEngine: "stub", container.LabelModel: "tiny"} {
		if got := dep.Labels[k]; got != want {
			t.Errorf("deployment label %s = %q, want %q", k, got, want)
		}
	}
	hash := dep.Labels[container.LabelSpecHash]
	if !strings.HasPrefix(hash, "v1-") {
		t.Errorf("deployment label %s = %q, want a spec hash", container.LabelSpecHash, hash)
	}
	if mf := dep.ManagedFields; len(mf) == 0 || mf[0].Manager != "aima" || mf[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("deployment managed fields %+v, want applied by aima", mf)
	}
	probe := dep.Spec.Template.Spec.Containers[0].ReadinessProbe
	if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/health" {
		t.Errorf("readiness probe %+v, want the stub engine's /health", probe)
	}
	var svc corev1.Service
	poll(t, "a Service of service chat", func() (bool, string) {
		list, err := env.Client.CoreV1().Services(ns).List(ctx, managed)
		if err != nil || len(list.Items) != 1 {
			return false, fmt.Sprintf("%v %v", list, err)
		}
		svc = list.Items[0]
		return true, ""
	})
	if p := svc.Spec.Ports; len(p) != 1 || int(p[0].Port) != port || p[0].TargetPort.IntValue() != 8000 {
		t.Errorf("service ports %+v, want %d → 8000", p, port)
	}

	// What an operator sees, when kubectl is there to ask.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", env.Kubeconfig, "-n", ns, "get", "deploy,svc", "-l", "aima.managed=true", "-o", "name").CombinedOutput()
		want := "deployment.apps/" + dep.Name + "\nservice/" + dep.Name + "\n"
		if err != nil || string(out) != want {
			t.Errorf("kubectl get deploy,svc -l aima.managed=true: %v\n%s\nwant\n%s", err, out, want)
		}
	}

	// Status follows the pod: the simulated node runs it and it is ready;
	// the endpoint is the Service's name in the cluster.
	item := waitStatus(t, base, string(token), "chat", "running")
	if want := fmt.Sprintf("http://%s.%s.svc:%d", dep.Name, ns, port); item.Endpoint != want {
		t.Errorf("endpoint %q, want %q", item.Endpoint, want)
	}

	// A changed file: new objects with the new env and spec hash.
	if _, err := st.Update(state.KindService, "chat", "", func(o state.Object) (state.Object, error) {
		o.(*state.Service).Env = map[string]string{"GREETING": "hello"}
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the Deployment of chat with GREETING=hello", func() (bool, string) {
		list, err := env.Client.AppsV1().Deployments(ns).List(ctx, managed)
		if err != nil || len(list.Items) != 1 {
			return false, fmt.Sprintf("%d deployments, %v", len(list.Items), err)
		}
		dep = list.Items[0]
		envs := dep.Spec.Template.Spec.Containers[0].Env
		return slices.Contains(envs, corev1.EnvVar{Name: "GREETING", Value: "hello"}) && dep.Labels[container.LabelSpecHash] != hash, fmt.Sprintf("env %v", envs)
	})
	waitStatus(t, base, string(token), "chat", "running")

	// The container dies (the OOM killer): the status says so.
	if err := env.Sim.Kill(ctx, ns, string(dep.UID)); err != nil {
		t.Fatal(err)
	}
	item = waitStatus(t, base, string(token), "chat", "failed")
	if !strings.Contains(item.Reason, "137") {
		t.Errorf("reason %q, want the exit code 137", item.Reason)
	}

	// A service that wants a GPU the cluster does not have: pending in
	// Kubernetes' words.
	if _, err := st.Create(state.KindService, &state.Service{Name: "big", Model: "tiny", Engine: "stub", Port: 8001, GPU: "all"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "service big unschedulable", func() (bool, string) {
		it := statusItem(t, base, string(token), "big")
		return it.Status == "starting" && strings.Contains(it.Reason, "Insufficient nvidia.com/gpu"), fmt.Sprintf("%+v", it)
	})

	// Apps likewise.
	if _, err := st.Create(state.KindApp, &state.App{Name: "web", Image: "ghcr.io/open-webui/open-webui:main", Ports: []string{"8080:8080"}}); err != nil {
		t.Fatal(err)
	}
	poll(t, "app web's Deployment and Service", func() (bool, string) {
		sel := metav1.ListOptions{LabelSelector: "aima.kind=app,aima.name=web"}
		deps, err1 := env.Client.AppsV1().Deployments(ns).List(ctx, sel)
		svcs, err2 := env.Client.CoreV1().Services(ns).List(ctx, sel)
		if err1 != nil || err2 != nil {
			return false, fmt.Sprint(err1, err2)
		}
		return len(deps.Items) == 1 && len(svcs.Items) == 1 && svcs.Items[0].Spec.Ports[0].Port == 8080, fmt.Sprintf("%d deployments, %d services", len(deps.Items), len(svcs.Items))
	})

	// A deleted file: its objects are pruned; the others stay.
	if err := st.Delete(state.KindService, "chat", ""); err != nil {
		t.Fatal(err)
	}
	poll(t, "chat's Deployment and Service pruned", func() (bool, string) {
		deps, err1 := env.Client.AppsV1().Deployments(ns).List(ctx, managed)
		svcs, err2 := env.Client.CoreV1().Services(ns).List(ctx, managed)
		if err1 != nil || err2 != nil {
			return false, fmt.Sprint(err1, err2)
		}
		return len(deps.Items) == 0 && len(svcs.Items) == 0, fmt.Sprintf("%d deployments, %d services", len(deps.Items), len(svcs.Items))
	})
	if _, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "foreign", metav1.GetOptions{}); err != nil {
		t.Errorf("the foreign deployment: %v", err)
	}
	big, err := env.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: "aima.name=big"})
	if err != nil || len(big.Items) != 1 {
		t.Errorf("service big's deployment: %v %v", big, err)
	}
}

// startAima runs `aima start` on dir with args until the test ends, and
// returns the API's base URL.
func startAima(t *testing.T, dir string, args ...string) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(testenv.Aima(t), append([]string{"--dir", dir, "start", "--addr", addr}, args...)...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("aima start output:\n%s", out.String())
		}
	})
	testenv.WaitHTTP(t, "http://"+addr+"/health", 30*time.Second)
	return "http://" + addr
}

type statusEntry struct {
	Kind, Name, Status, Reason, Endpoint string
}

func statusItem(t *testing.T, base, token, name string) statusEntry {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Items []statusEntry `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("GET /api/status: %v", err)
	}
	for _, it := range doc.Items {
		if it.Kind == "service" && it.Name == name {
			return it
		}
	}
	return statusEntry{}
}

func waitStatus(t *testing.T, base, token, name, want string) statusEntry {
	t.Helper()
	var it statusEntry
	poll(t, "service "+name+" "+want, func() (bool, string) {
		it = statusItem(t, base, token, name)
		return it.Status == want, fmt.Sprintf("%+v", it)
	})
	return it
}

// poll calls cond until it holds, for at most a minute.
func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
