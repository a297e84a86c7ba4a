package operator

import (
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/internal/testenv"
)

// TestConversationLockAcrossOperators: two operators on one state
// directory (the CLI's and the agent's processes) take turns on one
// conversation: the second waits until the first is done, so neither
// saves over the other's message.
func TestConversationLockAcrossOperators(t *testing.T) {
	st := testenv.NewStore(t)
	a := New(Options{Env: &unit.Env{Store: st}})
	b := New(Options{Env: &unit.Env{Store: st}})
	unlockA := a.lock("c1")
	got := make(chan struct{})
	go func() {
		unlockB := b.lock("c1")
		close(got)
		unlockB()
	}()
	select {
	case <-got:
		t.Fatal("the second operator took the conversation while the first held it")
	case <-time.After(200 * time.Millisecond): // it must still be waiting
	}
	unlockA()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the second operator did not get the conversation after the first let go")
	}
	// Another conversation is not held up.
	unlockA = a.lock("c1")
	defer unlockA()
	done := make(chan struct{})
	go func() { b.lock("c2")(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("another conversation waited for c1")
	}
}
