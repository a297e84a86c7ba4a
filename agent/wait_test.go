package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestWaitExpiryNamesObject: a wait that expires — its timeout, or the
// deadline of its context, whichever comes first — is a timeout error that
// names the object, the status it is in and why, never a bare "context
// deadline exceeded".
func TestWaitExpiryNamesObject(t *testing.T) {
	e := newFakeEnv(t)
	obj := addService(t, e.st, "slow", "tiny", "stub", testenv.FreePort(t), nil)
	pass(t, e.s) // a running container whose health check nothing answers: starting
	for name, run := range map[string]func() error{
		"timeout": func() error {
			_, err := e.s.Wait(context.Background(), obj, "running", 300*time.Millisecond)
			return err
		},
		"context deadline": func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := e.s.Wait(ctx, obj, "running", time.Minute)
			return err
		},
	} {
		err := run()
		if !errors.Is(err, state.ErrTimeout) {
			t.Errorf("%s: %v, want a timeout", name, err)
			continue
		}
		for _, want := range []string{"service/slow is starting after 300ms (wanted running)", "health check failing"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", name, err, want)
			}
		}
		if strings.Contains(err.Error(), "deadline exceeded") {
			t.Errorf("%s: %q", name, err)
		}
	}
	// A cancelled wait says so, naming the object.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.s.Wait(ctx, obj, "running", time.Minute); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "service/slow") {
		t.Errorf("cancelled: %v", err)
	}
}
