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
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/docker"
	"github.com/aima-dev/aima/agent/kube"
	"github.com/aima-dev/aima/agent/stub"
	"github.com/aima-dev/aima/state"
)

// Runtime is a container runtime the caller holds open.
type Runtime interface {
	container.Runtime
	Close() error
}

// NewSyncer returns a Syncer for the store on the runtime its local
// settings choose: the local Docker daemon, or with runtime: kubernetes
// the cluster of the kubeconfig they name (see agent/kube).
func NewSyncer(st *state.Store, log *slog.Logger) (*Syncer, Runtime, error) {
	set, err := st.Settings()
	if err != nil {
		return nil, nil, err
	}
	local, err := st.LocalSettings()
	if err != nil {
		return nil, nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{
		Store:    st,
		Instance: set.Instance,
		Prune:    set.Prune == nil || *set.Prune,
		Log:      log,
	}
	if local.Runtime == "kubernetes" {
		rt, err := kube.New(kube.Options{Kubeconfig: local.Kubeconfig, Namespace: local.Namespace})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", kube.ErrUnreachable, err)
		}
		s.Runtime, s.Endpoint = rt, rt.Endpoint
		// The cluster's nodes have the GPUs; AMD's when this machine's
		// are (the one hint aima has), else NVIDIA's.
		s.Host = Host{Cluster: true, AMDGPUs: CachedHost(st.Dir, false).AMDGPUs}
		s.StubImage = stubImageRef
		return s, rt, nil
	}
	rt, err := docker.New()
	if err != nil {
		return nil, nil, err
	}
	s.Runtime = rt
	s.Host = CachedHost(st.Dir, false)
	s.StubImage = StubImageFunc(rt)
	return s, rt, nil
}

// stubImageRef is the stub engine's image on a cluster: the reference the
// local build would have, which the nodes must already hold (k3s: aima
// engine build-stub, then docker save | k3s ctr images import -).
func stubImageRef(context.Context) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return stub.ImageRef(exe)
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
