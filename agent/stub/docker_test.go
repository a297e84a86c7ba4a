package stub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/internal/testenv"
)

// runStub creates and starts a container of the stub image with args and
// env, publishing container port 8000 on a free 127.0.0.1 port, and
// returns its id and base URL. The container is removed when the test
// ends.
func runStub(t *testing.T, cli *client.Client, env []string, args ...string) (id, base string) {
	t.Helper()
	image := testenv.StubImage(t)
	instance := testenv.Instance(t)
	testenv.RemoveContainers(t, cli, instance)
	port := testenv.FreePort(t)

	ctx := context.Background()
	created, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image:        image,
			Cmd:          args,
			Env:          env,
			ExposedPorts: nat.PortSet{"8000/tcp": {}},
			Labels:       map[string]string{testenv.LabelInstance: instance, "aima.test": t.Name()},
		},
		&container.HostConfig{
			PortBindings: nat.PortMap{"8000/tcp": {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(port)}}},
		},
		nil, nil, "aima-stub-test-"+instance)
	if err != nil {
		t.Fatalf("create stub container: %v", err)
	}
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start stub container: %v", err)
	}
	return created.ID, fmt.Sprintf("http://127.0.0.1:%d", port)
}

// TestDockerStub runs the stub image as the agent will: built from the
// aima binary, started through the SDK, answering on a published port.
func TestDockerStub(t *testing.T) {
	cli := testenv.Docker(t)
	id, base := runStub(t, cli, nil, "--model", "m1")

	testenv.WaitHTTP(t, base+"/health", 30*time.Second)

	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m1","messages":[{"role":"user","content":"ping"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("chat: status %s, decode error %v", resp.Status, err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Message.Content != stub.Answer("m1", "ping") {
		t.Fatalf("chat answer = %+v, want %q", got.Choices, stub.Answer("m1", "ping"))
	}

	// The container log has one line per request (written as the handler
	// returns: just after the answer, so it is polled for).
	var b []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs, err := cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(logs)
		logs.Close()
		if strings.Contains(string(b), "POST /v1/chat/completions 200") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(b), "POST /v1/chat/completions 200") {
		t.Errorf("container log does not show the chat request:\n%s", b)
	}

	// SIGTERM (docker stop) shuts the server down cleanly: exit 0, not
	// the 137 of a SIGKILL after the grace period.
	timeout := 10
	if err := cli.ContainerStop(context.Background(), id, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	info, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.ExitCode != 0 {
		t.Errorf("exit code after docker stop = %d, want 0", info.State.ExitCode)
	}
}

// TestDockerStubFail checks the crash switch agent tests rely on.
func TestDockerStubFail(t *testing.T) {
	cli := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, _ := runStub(t, cli, []string{stub.EnvFail + "=1"}, "--model", "m1")
	// "not-running" also answers for a container that has already exited,
	// so the exit cannot be missed.
	waitc, errc := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitc:
		if w.StatusCode != 1 {
			t.Errorf("exit code with %s=1 = %d, want 1", stub.EnvFail, w.StatusCode)
		}
	case err := <-errc:
		t.Fatalf("wait for stub container: %v", err)
	}
}

func TestEnsureImageReuses(t *testing.T) {
	cli := testenv.Docker(t)
	ref := testenv.StubImage(t)
	if !stub.IsImage(ref) {
		t.Errorf("IsImage(%q) = false", ref)
	}
	want, err := stub.ImageRef(testenv.Aima(t))
	if err != nil {
		t.Fatal(err)
	}
	if ref != want {
		t.Errorf("StubImage = %q, ImageRef = %q", ref, want)
	}
	ctx := context.Background()
	again, err := stub.EnsureImage(ctx, cli, testenv.Aima(t))
	if err != nil || again != ref {
		t.Errorf("second EnsureImage = %q, %v; want %q", again, err, ref)
	}
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Labels[stub.LabelStub] != "true" || !strings.HasPrefix(info.Config.Labels[stub.LabelBinary], strings.TrimPrefix(ref, stub.ImageRepo+":")) {
		t.Errorf("image labels = %v", info.Config.Labels)
	}
}

// TestEnsureImageRefusesDynamic checks that a binary that cannot run in a
// scratch image is refused before Docker is asked anything (cli is nil).
func TestEnsureImageRefusesDynamic(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{"/bin/ls", "CGO_ENABLED=0"},
		{notELF, "not an ELF executable"},
	}
	for _, tt := range tests {
		_, err := stub.EnsureImage(context.Background(), nil, tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("EnsureImage(%s) error = %v, want one mentioning %q", tt.path, err, tt.want)
		}
	}
}

func TestIsImage(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"aima-stub:0123456789ab", true},
		{"aima-stub", true},
		{"docker.io/library/aima-stub:x", true},
		{"aima-stub@sha256:" + strings.Repeat("a", 64), true},
		{"vllm/vllm-openai:latest", false},
		{"example.com/aima-stub:1", false},
		{"aima-stub-other:1", false},
		{"", false},
		{"Not A Ref", false},
	}
	for _, tt := range tests {
		if got := stub.IsImage(tt.ref); got != tt.want {
			t.Errorf("IsImage(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}
