// Package k8senv starts a real Kubernetes API server for tests, the
// controller-runtime "envtest" way: etcd (Debian's etcd-server) and
// kube-apiserver (built from the k8s.io/kubernetes module by
// hack/kube/build.sh), on loopback ports, with data in a temporary
// directory. There is no kubelet, scheduler or controller manager: a
// simulator (Sim) plays them for aima's Deployments — one node, Pods made
// from the Deployments, scheduled by their GPU requests, marked running and
// ready (or failing), and their logs served as a kubelet would.
//
// It must not be imported by anything but tests.
package k8senv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Version is the Kubernetes release hack/kube/go.mod pins and build.sh
// builds (keep them equal).
const Version = "v1.34.4"

// Env is a running API server and its simulated node.
type Env struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for Config (for aima and kubectl).
	Kubeconfig string
	Client     kubernetes.Interface
	Sim        *Sim

	dir       string
	procs     []proc
	userToken string
	stop      context.CancelFunc
}

var (
	shared    *Env
	sharedErr error
	once      sync.Once
)

// Shared returns the package's one Env, started on first use, or skips
// the test when the binaries are not there (set AIMA_K8S_REQUIRE=1 to fail
// instead, as CI does). Main stops it.
func Shared(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("the kubernetes tests start an API server; skipped under -short")
	}
	once.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		if errors.Is(sharedErr, errMissing) && os.Getenv("AIMA_K8S_REQUIRE") == "" {
			t.Skipf("%v (make test-k8s builds kube-apiserver; apt-get install etcd-server)", sharedErr)
		}
		t.Fatalf("kubernetes test environment: %v", sharedErr)
	}
	return shared
}

// Main runs the tests of a package and stops the shared Env after them.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

var errMissing = errors.New("kubernetes test binaries missing")

// Binaries returns the paths of etcd and kube-apiserver: AIMA_K8S_BIN (a
// directory holding kube-apiserver), else build.sh's cache; etcd from PATH.
func Binaries() (etcd, apiserver string, err error) {
	dir := os.Getenv("AIMA_K8S_BIN")
	if dir == "" {
		cache := os.Getenv("AIMA_K8S_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "aima-k8s")
		}
		dir = filepath.Join(cache, Version)
	}
	apiserver = filepath.Join(dir, "kube-apiserver")
	if _, err := os.Stat(apiserver); err != nil {
		return "", "", fmt.Errorf("%w: no %s", errMissing, apiserver)
	}
	etcd, err = exec.LookPath("etcd")
	if err != nil {
		return "", "", fmt.Errorf("%w: no etcd in PATH", errMissing)
	}
	return etcd, apiserver, nil
}

// Start starts an Env; Stop ends it. Tests use Shared.
func Start() (*Env, error) {
	etcdBin, apiBin, err := Binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aima-k8senv-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	if err := e.run("etcd", etcdBin,
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-cluster", "default=http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--unsafe-no-fsync", "--log-level", "warn",
	); err != nil {
		return nil, err
	}
	token := randHex(16)
	e.userToken = randHex(16)
	tokens := token + ",admin,admin,system:masters\n" + e.userToken + "," + User + "," + User + "\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saKey := filepath.Join(dir, "sa.key")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	port := ports[2]
	if err := e.run("kube-apiserver", apiBin,
		"--etcd-servers", etcdURL,
		"--cert-dir", filepath.Join(dir, "certs"),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		// No controller manager makes the default service accounts.
		"--disable-admission-plugins", "ServiceAccount",
		"--allow-privileged=true",
		"--kubelet-preferred-address-types", "InternalIP",
		"--enable-priority-and-fairness=false",
	); err != nil {
		return nil, err
	}
	host := "https://127.0.0.1:" + strconv.Itoa(port)
	e.Config = &rest.Config{Host: host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return nil, err
	}
	if err := e.waitReady(90 * time.Second); err != nil {
		return nil, err
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, []byte(kubeconfig(host, token)), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	if e.Sim, err = startSim(ctx, e.Client); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

func kubeconfig(host, token string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ` + host + `
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: ` + token + `
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
`
}

// proc is a program the Env started; exited is closed when it has ended.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// run starts a program with its output in a log file of the Env's
// directory (shown when it fails).
func (e *Env) run(name, bin string, args ...string) error {
	logf, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := proc{name: name, cmd: cmd, exited: make(chan struct{})}
	e.procs = append(e.procs, p)
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	return nil
}

// waitReady polls /readyz: the API server takes some seconds to start.
func (e *Env) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, last = e.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if last == nil {
			return nil
		}
		for _, p := range e.procs {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited: %s", p.name, e.logTail(p.name))
			default:
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %v\n%s", limit, last, e.logTail("kube-apiserver"))
}

func (e *Env) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop ends the simulator, the API server and etcd, and removes their data.
func (e *Env) Stop() {
	if e.stop != nil {
		e.stop()
	}
	for i := len(e.procs) - 1; i >= 0; i-- {
		_ = e.procs[i].cmd.Process.Kill()
	}
	for _, p := range e.procs {
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	}
	_ = os.RemoveAll(e.dir)
}

// User is a user with no rights of its own (RBAC gives it some).
const User = "aima-user"

// UserConfig reaches the API server as User.
func (e *Env) UserConfig() *rest.Config {
	c := rest.CopyConfig(e.Config)
	c.BearerToken = e.userToken
	return c
}

// Namespace creates a namespace for one test and removes aima's objects in
// it when the test ends. (Without a controller manager a deleted
// namespace would stay Terminating; the Env goes away with its etcd.)
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := "t-" + randHex(5)
	ctx := context.Background()
	if _, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all := metav1.ListOptions{}
		_ = e.Client.AppsV1().Deployments(name).DeleteCollection(ctx, metav1.DeleteOptions{}, all)
		_ = e.Client.CoreV1().Pods(name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}, all)
		svcs, err := e.Client.CoreV1().Services(name).List(ctx, all)
		if err == nil {
			for _, s := range svcs.Items {
				_ = e.Client.CoreV1().Services(name).Delete(ctx, s.Name, metav1.DeleteOptions{})
			}
		}
	})
	return name
}

func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
