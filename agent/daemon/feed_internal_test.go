package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/event"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// TestFeedPublishesEveryNewCommit: the feed publishes each commit made
// since it last looked, oldest first — one, or a burst of several (it
// reads the log a few entries at a time until it finds where it was).
func TestFeedPublishesEveryNewCommit(t *testing.T) {
	st := testenv.NewStore(t)
	b := &event.Broker{}
	evs, stop := b.Subscribe()
	defer stop()
	f := newFeed(b, nil, &unit.Env{Store: st})
	f.head = f.headRev()
	create := func(name string) {
		if _, err := st.Create(state.KindModel, &state.Model{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	got := func(want int) []string {
		var msgs []string
		for len(msgs) < want {
			select {
			case ev := <-evs:
				if ev.Type == event.Commit {
					msgs = append(msgs, fmt.Sprint(ev.Data.(map[string]any)["message"]))
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%d commit events, want %d: %v", len(msgs), want, msgs)
			}
		}
		return msgs
	}
	create("one")
	f.commits(context.Background(), f.headRev())
	if m := got(1); m[0] != "model create: one" {
		t.Errorf("one commit: %v", m)
	}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		create(n)
	}
	f.commits(context.Background(), f.headRev())
	m := got(5)
	if fmt.Sprint(m) != "[model create: a model create: b model create: c model create: d model create: e]" {
		t.Errorf("a burst of five: %v", m)
	}
	select {
	case ev := <-evs:
		t.Errorf("an event more: %+v", ev)
	default:
	}
}
