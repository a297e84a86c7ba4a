package testenv_test

import (
	"fmt"
	"net"
	"regexp"
	"testing"

	"github.com/aima-dev/aima/internal/testenv"
)

func TestInstance(t *testing.T) {
	a, b := testenv.Instance(t), testenv.Instance(t)
	if a == b {
		t.Errorf("two instances are both %q", a)
	}
	if !regexp.MustCompile(`^t-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("Instance = %q, want t- and 12 hex digits", a)
	}
}

func TestFreePort(t *testing.T) {
	port := testenv.FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("FreePort gave %d, which cannot be bound: %v", port, err)
	}
	ln.Close()
}

// TestDockerSkipsUnderShort: make test-short (go test -short) runs no Docker
// test: Docker skips the test that asks for it.
func TestDockerSkipsUnderShort(t *testing.T) {
	if !testing.Short() {
		t.Skip("meaningful only with -short")
	}
	reached := false
	t.Run("docker", func(t *testing.T) {
		testenv.Docker(t)
		reached = true
	})
	if reached {
		t.Errorf("testenv.Docker did not skip under -short")
	}
}
