package daemon

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/container/fake"
)

// TestEventsKickOnAnotherInstancesDestroy: a pass is asked for when one of
// our containers changes, and when a container of another instance goes
// away (it may have held the port or name one of ours waits for: a
// service moved between hosts of a fleet on one daemon) — but not when
// another instance's container merely starts.
func TestEventsKickOnAnotherInstancesDestroy(t *testing.T) {
	rt := fake.New()
	rt.AddImage("img", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kicks atomic.Int64
	go watchEvents(ctx, rt, "ours", func() { kicks.Add(1) }, func() {}, slog.New(slog.DiscardHandler))
	labels := func(inst string) map[string]string {
		return map[string]string{container.LabelManaged: "true", container.LabelInstance: inst, container.LabelKind: "service", container.LabelName: "x"}
	}
	// The subscription is made in the goroutine: wait until an event of
	// ours is seen before testing the others.
	waitKicks := func(what string, more int64, before int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for kicks.Load() < before+more {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d kicks, want %d", what, kicks.Load()-before, more)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for kicks.Load() == 0 {
		id, err := rt.Create(ctx, container.Spec{Name: "ours-probe", Image: "img", Labels: labels("ours")})
		if err != nil {
			t.Fatal(err)
		}
		_ = rt.Remove(ctx, id) // a destroy of ours
		if time.Now().After(deadline) {
			t.Fatal("no kick for our own container's events")
		}
		time.Sleep(20 * time.Millisecond)
	}

	id, err := rt.Create(ctx, container.Spec{Name: "theirs", Image: "img", Labels: labels("theirs")})
	if err != nil {
		t.Fatal(err)
	}
	before := kicks.Load()
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitKicks("another instance's container removed", 1, before)
	if got := kicks.Load() - before; got != 1 {
		t.Errorf("another instance's start and removal: %d kicks, want 1 (the removal only)", got)
	}
}
