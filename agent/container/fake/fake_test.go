package fake_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/container/containertest"
	"github.com/aima-dev/aima/agent/container/fake"
)

const (
	present = "aima-test/present:1"
	absent  = "aima-test/definitely-absent:0"
	output  = "fake: serving\n"
)

func TestContract(t *testing.T) {
	rt := fake.New()
	rt.AddImage(present, output)
	var seq atomic.Int64
	containertest.Run(t, containertest.Harness{
		Runtime:       rt,
		Image:         present,
		ContainerPort: 8000,
		LogText:       "fake: serving",
		AbsentImage:   absent,
		Instance: func(t *testing.T) string {
			return fmt.Sprintf("t-fake%d", seq.Add(1))
		},
		FreePort: func(t *testing.T) int {
			// Nothing binds in the fake; ports only need to differ.
			return 20000 + int(seq.Add(1))
		},
		Kill: func(t *testing.T, id string) {
			if err := rt.Kill(id, 137); err != nil {
				t.Fatalf("Kill(%s): %v", id, err)
			}
		},
		Unavailable: func(t *testing.T) container.Runtime {
			down := fake.New()
			down.AddImage(present, output)
			down.SetUnavailable(true)
			return down
		},
		Timeout: 5 * time.Second,
	})
}

func TestUnavailableBreaksEvents(t *testing.T) {
	rt := fake.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errs := rt.Events(ctx)
	rt.SetUnavailable(true)
	select {
	case err := <-errs:
		if !errors.Is(err, container.ErrUnavailable) {
			t.Errorf("event stream error %v, want %v", err, container.ErrUnavailable)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event stream did not break when the runtime became unavailable")
	}
	if err := rt.Ping(ctx); !errors.Is(err, container.ErrUnavailable) {
		t.Errorf("Ping while unavailable: %v, want %v", err, container.ErrUnavailable)
	}
	rt.SetUnavailable(false)
	if err := rt.Ping(ctx); err != nil {
		t.Errorf("Ping after SetUnavailable(false): %v", err)
	}
}

func TestOOMKill(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := fake.New()
	rt.AddImage(present, "")
	evs, errs := rt.Events(ctx)
	id, err := rt.Create(ctx, container.Spec{Name: "oom", Image: present, Labels: map[string]string{container.LabelManaged: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.OOMKill(id); err != nil {
		t.Fatal(err)
	}
	var got []container.EventType
	for len(got) < 3 {
		select {
		case ev := <-evs:
			got = append(got, ev.Type)
		case err := <-errs:
			t.Fatalf("event stream: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far %v, want 3", got)
		}
	}
	want := []container.EventType{container.EventStart, container.EventOOM, container.EventDie}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	c, err := rt.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != container.StateExited || c.ExitCode != 137 {
		t.Errorf("after OOMKill: state %q exit %d, want exited 137", c.State, c.ExitCode)
	}
}
