package plan

import (
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/container"
)

// replica is replica n of a service, on its own host port.
func replica(d Desired, n, port int) Desired {
	d.Replica = n
	d.Spec.Name = ContainerName("", d.Kind, d.Name, n)
	d.Spec.Ports = []container.Port{{HostPort: port, ContainerPort: 8000}}
	return d
}

// TestReplicas: each replica of a service is a container of its own with a
// deterministic name; scaling up creates only the new ones, scaling down
// removes only the replicas past the count (with or without pruning: the
// file says they go), stopping removes them all, and a blocked service's
// replicas are left alone.
func TestReplicas(t *testing.T) {
	base := svc("q", "img", 8001)
	r1, r2, r3 := replica(base, 1, 8001), replica(base, 2, 8002), replica(base, 3, 8003)
	if r1.Spec.Name != "aima-q" || r2.Spec.Name != "aima-q_2" {
		t.Fatalf("names %s, %s; want aima-q, aima-q_2", r1.Spec.Name, r2.Spec.Name)
	}

	// From nothing: one create per replica.
	p := Diff([]Desired{r1, r2, r3}, nil, instance, Options{Prune: true})
	if got := p.String(); got != "+ service/q create (no container)\n+ service/q[2] create (no container)\n+ service/q[3] create (no container)\n" {
		t.Errorf("three replicas from nothing:\n%s", got)
	}

	one := made(r1, "c1", container.StateRunning, 0)
	two := made(r2, "c2", container.StateRunning, 0)
	three := made(r3, "c3", container.StateRunning, 0)
	if one.Labels[container.LabelReplica] != "" || two.Labels[container.LabelReplica] != "2" {
		t.Errorf("replica labels %q, %q; want none and 2", one.Labels[container.LabelReplica], two.Labels[container.LabelReplica])
	}
	if Hash(r1.Spec) != one.Labels[container.LabelSpecHash] {
		t.Errorf("replica 1's spec hash is not its spec's")
	}

	// Scaled up from 1: replica 1 is left running.
	p = Diff([]Desired{r1, r2}, []container.Container{one}, instance, Options{Prune: true})
	if got := p.String(); got != "+ service/q[2] create (no container)\n" {
		t.Errorf("scaled up 1 → 2:\n%s", got)
	}

	// Scaled down to 2, pruning off: replica 3 goes all the same.
	obs := []container.Container{one, two, three}
	p = Diff([]Desired{r1, r2}, obs, instance, Options{})
	if got := p.String(); got != "- service/q[3] remove (scaled down: replicas 2)\n" {
		t.Errorf("scaled down 3 → 2:\n%s", got)
	}
	if len(p.Ops) != 1 || p.Ops[0].ID != "c3" || p.Ops[0].Replica != 3 {
		t.Errorf("ops %+v; want the remove of c3 (replica 3)", p.Ops)
	}

	// Stopped: every replica's container goes.
	p = Diff([]Desired{stopped(base)}, obs, instance, Options{})
	if len(p.Ops) != 3 {
		t.Errorf("stopped, 3 replicas running:\n%s", p)
	}
	for _, op := range p.Ops {
		if op.Op != Remove || op.Cause != "state: stopped" {
			t.Errorf("stopped: %s", op)
		}
	}

	// Blocked (its files cannot be rendered): all left alone.
	blocked := Desired{Kind: "service", Name: "q", Running: true, Blocked: "model missing"}
	p = Diff([]Desired{blocked}, obs, instance, Options{Prune: true})
	if len(p.Ops) != 0 || len(p.Orphans) != 0 {
		t.Errorf("blocked with 3 replicas running: %+v", p)
	}

	// The file gone: every replica is an orphan, removed when pruning.
	p = Diff(nil, obs, instance, Options{Prune: true})
	if len(p.Ops) != 3 || !strings.Contains(p.String(), "- service/q[3] remove (no file for service/q)") {
		t.Errorf("file deleted:\n%s", p)
	}

	// Replica 2 of q and a service named q_2 want one container name.
	other := svc("q_2", "img", 9000)
	p = Diff([]Desired{r1, r2, other}, nil, instance, Options{Prune: true})
	if !strings.Contains(p.String(), "container name aima-q_2 also used by service/q[2]") {
		t.Errorf("q[2] and q_2:\n%s", p)
	}
}
