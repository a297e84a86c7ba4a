package agent_test

import (
	"context"
	"errors"
	"regexp"
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
var waitedRE = regexp.MustCompile(`service/slow is starting after ([3-9]00ms|[0-9.]+s) \(wanted running\)`)

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
		// How long it waited is at least the 300ms asked for, however busy
		// the machine.
		if !waitedRE.MatchString(err.Error()) || !strings.Contains(err.Error(), "health check failing") {
			t.Errorf("%s: %q does not say it is starting after 300ms or more (wanted running) with the health check failing", name, err)
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
