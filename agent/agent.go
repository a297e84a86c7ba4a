// Package agent is aima's sync engine, shared by the CLI and the running
// agent: render the state files into desired containers, observe Docker,
// plan (package plan), execute, and derive status, wait for it, list the
// unmanaged containers, budget the resource slots and read logs.
//
// It never stores observed state: every status is derived from Docker when
// asked, so nothing can be stale after a restart.
//
// It must not serve HTTP, watch the files or follow a remote branch: the
// long-running process that does (aima start: the API, the file watcher,
// the sync loop, the follower, the alerts) is its wiring, package
// agent/daemon, which imports this one, never the reverse
// (TestEngineImports holds the line).
package agent

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/state"
)

// NewSyncer returns a Syncer for the store on the real Docker daemon.
func NewSyncer(st *state.Store, log *slog.Logger) (*Syncer, *docker.Runtime, error) {
	set, err := st.Settings()
	if err != nil {
		return nil, nil, err
	}
	rt, err := docker.New()
	if err != nil {
		return nil, nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{
		Store:     st,
		Runtime:   rt,
		Instance:  set.Instance,
		Prune:     set.Prune == nil || *set.Prune,
		Host:      CachedHost(st.Dir, false),
		StubImage: StubImageFunc(rt),
		Log:       log,
	}
	return s, rt, nil
}

// StubImageFunc builds the stub engine image from this very binary (which
// must be statically linked) the first time a service needs it.
func StubImageFunc(rt *docker.Runtime) func(context.Context) (string, error) {
	var mu sync.Mutex
	var tag string
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if tag != "" {
			return tag, nil
		}
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		t, err := stub.EnsureImage(ctx, rt.Client(), exe)
		if err != nil {
			return "", err
		}
		tag = t
		return tag, nil
	}
}
