package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/internal/testenv"
)

// TestFollowConverges is issue 7's walk-through on the real binary and the
// real daemon: a state directory is pushed to a bare repository; a second
// one is made from it with `aima init --from` and its agent follows the
// remote; a change to a service pushed from the first is applied by the
// second and its container recreated; a one-command rollback, pushed, is
// followed too. Only the follower runs containers.
func TestFollowConverges(t *testing.T) {
	a := newAimaEnv(t, 4)
	bare := filepath.Join(t.TempDir(), "state.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v %s", err, out)
	}
	a.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	a.mustAima("service", "create", "--name", "chat", "--model-id", "tiny", "--engine-type", "stub")
	a.mustAima("remote", "add", "origin", "file://"+bare)
	a.mustAima("push")

	// The follower: its own directory, instance and API port.
	b := &aimaEnv{t: t, bin: a.bin, docker: a.docker, dir: filepath.Join(t.TempDir(), ".aima"),
		addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), home: t.TempDir()}
	b.mustAima("init", "--from", "file://"+bare)
	inst, err := os.ReadFile(filepath.Join(b.dir, ".local", "instance"))
	if err != nil {
		t.Fatalf("init --from gave no instance of its own: %v", err)
	}
	b.instance = strings.TrimSpace(string(inst))
	if b.instance == a.instance || b.instance == "" {
		t.Fatalf("follower instance %q (publisher %q)", b.instance, a.instance)
	}
	testenv.RemoveContainers(t, b.docker, b.instance)
	b.startAgentArgs([]string{"--follow", "origin/main", "--interval", "1s"})
	b.waitStatus("chat", "running", 60*time.Second)

	env := func() []string {
		c := b.serviceContainer("chat")
		if c == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		info, err := b.docker.ContainerInspect(ctx, c.ID)
		if err != nil || info.State == nil || !info.State.Running {
			return nil
		}
		return info.Config.Env
	}
	if slices.Contains(env(), "MODE=fast") {
		t.Fatal("MODE=fast before it was pushed")
	}

	a.mustAima("service", "update", "chat", "--env", "MODE=fast")
	a.mustAima("push")
	waitUntil(t, 30*time.Second, "the follower's container has MODE=fast", func() (bool, string) {
		e := env()
		return slices.Contains(e, "MODE=fast"), fmt.Sprint(e)
	})
	b.waitStatus("chat", "running", 30*time.Second)

	a.mustAima("rollback", "HEAD~1")
	a.mustAima("push")
	waitUntil(t, 30*time.Second, "the follower's container without MODE after the rollback", func() (bool, string) {
		e := env()
		return e != nil && !slices.Contains(e, "MODE=fast"), fmt.Sprint(e)
	})
	if head, want := b.mustGit("rev-parse", "HEAD"), a.mustGit("rev-parse", "HEAD"); head != want {
		t.Errorf("follower at %s, publisher at %s", head, want)
	}
	if st := b.mustAima("status"); !strings.Contains(st, "follow") || !strings.Contains(st, "origin/main") {
		t.Errorf("aima status does not report following:\n%s", st)
	}
	b.checkGit(false)
}
