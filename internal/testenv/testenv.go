// Package testenv holds the helpers that tests of every aima package share:
// the aima binary built once per test process, a Docker client, the stub
// engine image, free ports, instance ids and container cleanup.
//
// It is imported only from _test.go files. Docker tests run against the
// real daemon and fail, not skip, when it is down: a silently skipped
// Docker test hides exactly the bugs it exists for. Set AIMA_SKIP_DOCKER=1,
// or run go test -short (make test-short), to skip them deliberately.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/aima-dev/aima/state"

	"github.com/aima-dev/aima/agent/stub"
)

// EnvSkipDocker, set to "1", makes Docker skip the calling test instead of
// failing it when Docker tests cannot or should not run.
const EnvSkipDocker = "AIMA_SKIP_DOCKER"

// LabelInstance is the label that scopes containers to one aima instance
// (see the spec, section 3); RemoveContainers selects by it.
const LabelInstance = "aima.instance"

var (
	aimaOnce sync.Once
	aimaDir  string
	aimaPath string
	aimaErr  error

	stubOnce sync.Once
	stubRef  string
	stubErr  error
)

// Main runs the tests of a package and then removes what testenv left for
// the whole process (the aima binary). It is optional: a package that wants
// its temporary files gone calls it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes what testenv left for the whole process, for a TestMain
// that cannot call Main (it runs m itself).
func Cleanup() {
	if aimaDir != "" {
		os.RemoveAll(aimaDir)
	}
}

// Aima returns the path of an aima binary built from this checkout, static
// (CGO_ENABLED=0) so that it can go into the stub image. It is built once
// per test process into a directory that outlives the test (later tests
// and the stub image reuse it), removed by Main if the package uses it; the
// go build cache makes rebuilds in later processes cheap.
func Aima(t testing.TB) string {
	t.Helper()
	aimaOnce.Do(func() { aimaPath, aimaErr = buildAima() })
	if aimaErr != nil {
		t.Fatalf("testenv: %v", aimaErr)
	}
	return aimaPath
}

func buildAima() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the aima module")
	}
	dir, err := os.MkdirTemp("", "aima-testenv-")
	if err != nil {
		return "", fmt.Errorf("build aima: %w", err)
	}
	aimaDir = dir
	bin := filepath.Join(dir, "aima")
	// -trimpath and -buildvcs=false make the binary depend on the sources
	// only, so the stub image tag (its hash) stays stable across commits
	// and checkouts.
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, "github.com/aima-dev/aima/cmd/aima")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build aima: %v\n%s", err, out)
	}
	return bin, nil
}

// Docker returns a client for the local Docker daemon (API version
// negotiated), closed when the test ends. It fails the test if the daemon
// does not answer a ping, and skips it with -short or AIMA_SKIP_DOCKER=1.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	SkipDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("testenv: docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("testenv: Docker is not reachable at %s (start it, or set %s=1 to skip Docker tests): %v", cli.DaemonHost(), EnvSkipDocker, err)
	}
	return cli
}

// SkipDocker skips the calling test when Docker tests are not wanted:
// under go test -short (make test-short, the developer loop) or with
// AIMA_SKIP_DOCKER=1. Tests that reach Docker other than through Docker
// call it first.
func SkipDocker(t testing.TB) {
	t.Helper()
	switch {
	case testing.Short():
		t.Skip("-short: skipping a test that needs Docker")
	case os.Getenv(EnvSkipDocker) == "1":
		t.Skipf("%s=1: skipping a test that needs Docker", EnvSkipDocker)
	}
}

// StubImage returns the reference of the stub engine image built from
// Aima's binary, building it at most once per test process (and only when
// the daemon does not have it already).
func StubImage(t testing.TB) string {
	t.Helper()
	cli := Docker(t)
	bin := Aima(t)
	stubOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		stubRef, stubErr = stub.EnsureImage(ctx, cli, bin)
	})
	if stubErr != nil {
		t.Fatalf("testenv: %v", stubErr)
	}
	return stubRef
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Instance returns a new unique aima instance id ("t-" and 12 hex digits),
// so that each test owns exactly the containers it labels with it.
func Instance(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: instance id: %v", err)
	}
	return "t-" + hex.EncodeToString(b)
}

// RemoveContainers registers a cleanup that force-removes every container
// labelled aima.instance=instance (with its anonymous volumes), whatever
// state the test left them in.
func RemoveContainers(t testing.TB, cli *client.Client, instance string) {
	t.Helper()
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		list, err := cli.ContainerList(ctx, container.ListOptions{
			All:     true,
			Filters: filters.NewArgs(filters.Arg("label", LabelInstance+"="+instance)),
		})
		if err != nil {
			t.Errorf("testenv: list containers of instance %s: %v", instance, err)
			return
		}
		for _, c := range list {
			err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("testenv: remove container %s of instance %s: %v", c.ID[:12], instance, err)
			}
		}
	})
}

// WaitHTTP polls url with GET until it answers 200 or timeout passes, and
// fails the test with the last answer or error if it never does. It is the
// way to wait for a server to come up without sleeping a guessed time.
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not ready after %s: last answer: %s", url, timeout, last)
		}
		<-tick.C
	}
}

// NewStore returns an initialised state directory (a git repository with
// aima.yaml) under t's temporary directory.
func NewStore(t testing.TB) *state.Store {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), ".aima"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		t.Fatal(err)
	}
	return st
}
