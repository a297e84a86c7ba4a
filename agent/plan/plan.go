// Package plan is the pure middle of a sync pass (observe → plan →
// execute): it compares the desired objects read from the state files with
// the observed containers and returns a Plan, an ordered list of operations,
// each with a human-readable cause.
//
// The planner decides and does nothing: no Docker, no files, no clock, no
// randomness. What the agent knows beyond the files and the containers is
// an input too (Desired.Blocked, Desired.Backoff, Options.Now,
// Options.HostPorts, Options.ImageErrors), so every decision — including
// "not now" — is the planner's, has a cause, and shows in `aima diff`.
// Equal inputs, in any order, give an equal Plan, and Plan.String is what
// `aima diff` prints. The executor applies a Plan, phase by phase (Phases),
// and makes no decisions of its own.
//
// The package also owns what the planner compares: the container name
// (Name), the label set (Labels), the versioned spec hash (Hash, Matches)
// and the changed-field summary (Changed).
package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent/container"
)

// Desired is one object from the state files that wants a container.
type Desired struct {
	Kind string // "service" or "app"
	Name string
	// Replica numbers the containers of a service of several replicas
	// (1, 2, ...; 0 is 1): each is a Desired of its own, with its own
	// container and host port. Replicas of a desired object without a
	// Desired of their own are removed (scaled down).
	Replica int
	// Spec is the container to run. Its Name is the container name; when
	// empty, Diff uses ContainerName(instance, Kind, Name, Replica).
	Spec container.Spec
	// Running is the object's state: true for running, false for stopped.
	// A stopped object has no container at all.
	Running bool
	// Revision is the git commit the files are at; it goes into the
	// aima.revision label and never causes a recreate by itself.
	Revision string
	// Alternatives are images to use, in order, when Spec.Image cannot be
	// had (the engine's alternative_images; see Options.ImageErrors). They
	// are not part of the spec hash: a container made from one is not
	// recreated for it.
	Alternatives []string
	// Blocked, when set, is why a running object cannot run at all until
	// its files change: they cannot be rendered (a variable not set, a
	// model file missing), or its resource slot has no room for it. Spec
	// is then empty. The object and its containers are left alone (not
	// orphans) and it is reported as a Hold.
	Blocked string
	// Elsewhere, for an object that is not Running, is why: it is placed
	// on other hosts of a fleet. Its containers here are removed with it
	// as the cause.
	Elsewhere string
	// Backoff, when set, is what the object's earlier attempts came to
	// (the agent remembers them): its operations are held until
	// Backoff.Retry.
	Backoff *Backoff
}

// Backoff is an object's recent failures, as the agent remembers them.
type Backoff struct {
	Retry    time.Time // when it may be tried again
	Attempts int       // failed attempts (for a crash loop: restarts) so far
	Reason   string    // the last failure, for humans
	// CrashLoop: the container keeps exiting; what waits is a restart.
	CrashLoop bool
	// Spec is the spec hash (Hash) the failures were for. A backoff for
	// another spec holds nothing: a changed file is tried at once.
	Spec string
}

// Op is the kind of an operation.
type Op int

// Operations. The zero Op is none of them, so a zero Operation does
// nothing harmful by accident.
const (
	Create Op = iota + 1
	Recreate
	Start
	// Stop is never planned by Diff: a stopped object has no container
	// (see Diff). It exists for callers that stop without removing.
	Stop
	Remove
)

// phase is the position of o in execution order: removes first, so that
// the names and ports they hold are free for what follows. It is the one
// definition of that order: Plan.Ops are sorted by it and Phases groups
// by it.
func (o Op) phase() int {
	switch o {
	case Remove:
		return 0
	case Recreate:
		return 1
	case Create:
		return 2
	case Start:
		return 3
	case Stop:
		return 4
	default:
		return 5
	}
}

func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case Recreate:
		return "recreate"
	case Start:
		return "start"
	case Stop:
		return "stop"
	case Remove:
		return "remove"
	default:
		return fmt.Sprintf("Op(%d)", int(o))
	}
}

func (o Op) symbol() string {
	switch o {
	case Create:
		return "+"
	case Recreate:
		return "~"
	case Start:
		return ">"
	case Stop:
		return "."
	case Remove:
		return "-"
	default:
		return "?"
	}
}

// Operation is one step of a Plan.
//
// To create (or, after removing the old one, recreate), the executor creates
// Desired.Spec from Image (Desired.Spec.Image when empty) with Spec.Name set
// to Container and Spec.Labels set to Labels(*Desired, instance). A create
// or start that fails leaves no container behind.
type Operation struct {
	Op         Op
	Kind, Name string
	Replica    int      // the replica acted on (0 or 1: the first)
	Container  string   // container name
	ID         string   // observed container id, when there is one
	Desired    *Desired // nil for orphans
	Cause      string   // why, for humans: "no container", "spec changed: image"
	Changed    []string // for Recreate: the changed fields, when known
	// Image is the image to create from when it is not Desired.Spec.Image:
	// an alternative, as the main image could not be had.
	Image string
}

func (o Operation) String() string {
	return fmt.Sprintf("%s %s %s (%s)", o.Op.symbol(), key{o.Kind, o.Name, o.Replica}, o.Op, o.Cause)
}

// Conflict is a desired object the plan cannot converge and has left
// alone: its container name is held by a container that is not ours, or one
// of its host ports is claimed by another desired object or held by a
// container that stays.
type Conflict struct {
	Kind, Name string
	Container  string // the desired container name
	Reason     string // for humans; names the other party
}

func (c Conflict) String() string {
	return fmt.Sprintf("! %s/%s conflict: %s", c.Kind, c.Name, c.Reason)
}

// Why says what holds an object back.
type Why int

// Reasons for a Hold.
const (
	// HoldBackoff: it failed before (Desired.Backoff) and waits to be
	// tried again.
	HoldBackoff Why = iota + 1
	// HoldBlocked: it cannot run until its files change (Desired.Blocked).
	HoldBlocked
	// HoldPort: a host port it publishes is taken by a process that is not
	// a container (Options.HostPorts).
	HoldPort
	// HoldImage: no image of its engine could be had (Options.ImageErrors).
	HoldImage
)

// Hold is a desired object the plan does not act on now, and why.
type Hold struct {
	Kind, Name string
	Replica    int // 0 or 1: the first (or only) replica
	Why        Why
	Cause      string    // for humans: "restarting in 8s: crash loop: ..."
	Retry      time.Time // for HoldBackoff: when it is tried again
}

// String is the hold's line in `aima diff`: "=" for an object waiting for
// a retry, "!" for one that cannot run until something changes.
func (h Hold) String() string {
	if h.Why == HoldBackoff {
		return fmt.Sprintf("= %s held: %s", key{h.Kind, h.Name, h.Replica}, h.Cause)
	}
	return fmt.Sprintf("! %s cannot run: %s", key{h.Kind, h.Name, h.Replica}, h.Cause)
}

// Plan is the outcome of Diff.
type Plan struct {
	// Ops are in execution order: removes, recreates, creates, starts;
	// within each by kind, name, container name and id.
	Ops []Operation
	// Unmanaged are the aima-labelled containers that are not ours:
	// another instance's, or ones without aima.managed=true (see Diff).
	// They are reported and never operated on.
	Unmanaged []container.Container
	// Orphans are containers of ours without a desired object, kept
	// because Options.Prune is false.
	Orphans []container.Container
	// Conflicts are desired objects left alone, with the reason.
	Conflicts []Conflict
	// Held are desired objects not acted on now (backing off, blocked,
	// a host port taken, no image), by kind and name.
	Held []Hold
}

// Empty reports whether the containers match the files: nothing to do,
// nothing blocked or held and no orphans. Unmanaged containers are not
// ours and do not count.
func (p Plan) Empty() bool {
	return len(p.Ops) == 0 && len(p.Conflicts) == 0 && len(p.Orphans) == 0 && len(p.Held) == 0
}

// Phases splits ops into the groups the executor runs one after the
// other, in execution order (removes, recreates, creates, starts, stops);
// the operations of one group may run at the same time. The order within a
// group is kept.
func Phases(ops []Operation) [][]Operation {
	sorted := slices.Clone(ops)
	slices.SortStableFunc(sorted, func(a, b Operation) int { return cmp.Compare(a.Op.phase(), b.Op.phase()) })
	var out [][]Operation
	for i, op := range sorted {
		if i == 0 || op.Op.phase() != sorted[i-1].Op.phase() {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], op)
	}
	return out
}

// String prints the plan Terraform-style, one line per entry:
//
//	$ aima diff
//	+ service/qwen create (no container)
//	~ service/qwen recreate (spec changed: env:FOO, image)
//	> service/qwen start (container exited (code 1))
//	- service/old remove (no file for service/old)
//	= service/chat held: restarting in 8s: crash loop: ...
//	! service/web cannot run: host port 8001 is held by process 123 (nginx)
//	! service/x orphan: container aima-x kept (prune disabled)
//	! service/x conflict: host port 8000 also claimed by app/y
//	! service/z unmanaged: container aima-z of instance "box2" (running)
//
// Operations are sorted by kind and name (then by execution order), so all
// lines of one object are together; then holds, orphans, conflicts and
// unmanaged containers. An empty plan prints "No changes. Containers match
// the state files.".
func (p Plan) String() string {
	var b strings.Builder
	if p.Empty() {
		b.WriteString("No changes. Containers match the state files.\n")
	}
	ops := slices.Clone(p.Ops)
	slices.SortStableFunc(ops, func(a, b Operation) int {
		return cmp.Or(
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(max(a.Replica, 1), max(b.Replica, 1)),
			compareOps(a, b),
		)
	})
	for _, o := range ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	for _, h := range p.Held {
		b.WriteString(h.String())
		b.WriteByte('\n')
	}
	for _, c := range p.Orphans {
		fmt.Fprintf(&b, "! %s orphan: container %s kept (prune disabled)\n", ownerKey(c), c.Name)
	}
	for _, c := range p.Conflicts {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	for _, c := range p.Unmanaged {
		kind, name := owner(c)
		fmt.Fprintf(&b, "! %s/%s unmanaged: container %s %s (%s)\n", kind, name, c.Name, Whose(c), c.State)
	}
	return b.String()
}

// compareOps orders operations in execution order: by op, then kind, name,
// container name and id.
func compareOps(a, b Operation) int {
	return cmp.Or(
		cmp.Compare(a.Op.phase(), b.Op.phase()),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(max(a.Replica, 1), max(b.Replica, 1)),
		cmp.Compare(a.Container, b.Container),
		cmp.Compare(a.ID, b.ID),
	)
}

// ownerKey is the object and replica a container belongs to, by its labels.
func ownerKey(c container.Container) key {
	kind, name := owner(c)
	return key{kind, name, Replica(c.Labels)}
}

// owner returns the object a container belongs to according to its labels,
// falling back to "container/<name>" when they are missing.
func owner(c container.Container) (kind, name string) {
	kind, name = c.Labels[container.LabelKind], c.Labels[container.LabelName]
	if kind == "" || name == "" {
		return "container", c.Name
	}
	return kind, name
}
