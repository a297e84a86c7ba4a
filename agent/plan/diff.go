package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aima-dev/aima/agent/container"
)

// Options tune Diff and carry what the agent knows of the world beyond
// the files and the containers.
type Options struct {
	// Prune removes containers of ours that have no desired object. When
	// false they are only listed in Plan.Orphans.
	Prune bool
	// Now is when the plan is made: a Desired.Backoff whose Retry is later
	// holds (the planner reads no clock).
	Now time.Time
	// HostPorts are host ports taken on the host by something that is not
	// an observed container (a process outside Docker), each with who
	// holds it: "process 123 (nginx)".
	HostPorts map[int]string
	// ImageErrors are images that could not be had (pulled), each with
	// why. A create or recreate uses the first image of Spec.Image and
	// Alternatives that is not among them.
	ImageErrors map[string]string
}

// key identifies a container's place: its object's kind and name, and
// which replica (0 and 1 are both the first).
type key struct {
	kind, name string
	replica    int
}

func keyOf(d *Desired) key { return key{d.Kind, d.Name, max(d.Replica, 1)} }

// String is "service/qwen", and "service/qwen[2]" for replica 2.
func (k key) String() string {
	if k.replica > 1 {
		return fmt.Sprintf("%s/%s[%d]", k.kind, k.name, k.replica)
	}
	return k.kind + "/" + k.name
}

// object is the key of the object's first replica, where the object is
// known by.
func (k key) object() key { return key{k.kind, k.name, 1} }

// holder is an observed container that outlives the plan and is not ours to
// change: a container of another instance, or an orphan kept because
// pruning is off. Its name and ports block desired objects.
type holder struct {
	c      container.Container
	orphan bool
}

func (h holder) String() string {
	if h.orphan {
		kind, name := owner(h.c)
		return fmt.Sprintf("orphan container %s of %s/%s (prune disabled)", h.c.Name, kind, name)
	}
	return fmt.Sprintf("container %s %s", h.c.Name, Whose(h.c))
}

// Whose says whose an unmanaged container is, after "container NAME":
// `of instance "box2"`, `of instance "box2" without aima.managed=true`, or
// "with aima labels but no aima.instance" (a container run by hand with
// aima.engine=vllm, say).
func Whose(c container.Container) string {
	inst, ok := c.Labels[container.LabelInstance]
	switch {
	case !ok || inst == "":
		return "with aima labels but no " + container.LabelInstance
	case c.Labels[container.LabelManaged] != "true":
		return fmt.Sprintf("of instance %q without %s=true", inst, container.LabelManaged)
	}
	return fmt.Sprintf("of instance %q", inst)
}

// Diff compares the desired objects with the observed containers and
// returns the plan that converges them. It is pure: it does not modify its
// inputs, and equal inputs in any order give an equal plan.
//
// The rules:
//
//   - Observed containers labelled aima.managed=true and aima.instance=
//     instance are ours (container.Owned); all others (another instance's,
//     or any container with an aima label, such as one run by hand with
//     aima.engine=vllm) are Unmanaged, reported and never operated on. With
//     an empty instance nothing is ours.
//   - Ours are matched to desired objects by their aima.kind and aima.name
//     labels. Several of ours for one object (a manual rename, say) should
//     never happen with deterministic names; the newest is kept and the
//     rest removed.
//   - A running object without a container is created. One whose container
//     does not match (spec hash, see Matches, or container name), or
//     publishes a port where the spec does not (see Misplaced), is
//     recreated, listing the changed fields when the summary label allows
//     and naming the misplaced port.
//     One whose container is created or exited is started. A dead container
//     cannot be started, so it is recreated.
//   - A stopped object has no container: that is what `aima service stop`
//     means here, so its container is removed rather than stopped. This
//     keeps "stopped" one state, frees the port, and lets a later start
//     create the container from the current files.
//   - A container being removed gets nothing yet; the next pass sees the
//     result.
//   - A container of ours without a desired object is an orphan: removed
//     when opts.Prune is set, otherwise listed in Plan.Orphans.
//   - A desired object is left alone and reported as a Conflict when it is
//     declared twice, when its container name is also another object's,
//     when a host port it publishes is claimed by another running object,
//     or, when it needs a create, recreate or start, when its container
//     name or a host port is held by a container that stays (unmanaged, or
//     an orphan kept because pruning is off).
//   - A running object that is Blocked (its files cannot be rendered, or
//     its resource slot has no room) is held and reported; its containers
//     are left alone, neither converged nor orphans.
//   - An object with operations to do and a Backoff for its current spec
//     that ends after opts.Now is held until then: none of its operations
//     (duplicate removes included) is planned. A backoff for another spec
//     holds nothing: a changed file is tried at once.
//   - An object that needs a create, recreate or start while a host port it
//     publishes is in opts.HostPorts (taken outside Docker) is held,
//     naming the holder, and its container, when it is not running (it
//     cannot start), is removed.
//   - A create or recreate uses the first of Spec.Image and Alternatives
//     that is not in opts.ImageErrors (Operation.Image when it is not the
//     main one); with none left the object is held, naming every image
//     tried and why.
//
// Ops are ordered removes, recreates, creates, starts (removes first free
// ports and names), each by kind, name, container name and id; holds by
// kind and name.
func Diff(desired []Desired, observed []container.Container, instance string, opts Options) Plan {
	var p Plan

	ours := make(map[key][]container.Container)
	var holders []holder
	for _, c := range observed {
		if !container.Owned(c.Labels, instance) {
			p.Unmanaged = append(p.Unmanaged, c)
			holders = append(holders, holder{c: c})
			continue
		}
		k := ownerKey(c)
		ours[k] = append(ours[k], c)
	}
	for k, cs := range ours {
		// Newest first; the id breaks ties so the order never depends on
		// the order of observed.
		slices.SortFunc(cs, func(a, b container.Container) int {
			return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID))
		})
		ours[k] = cs
	}

	want := make([]Desired, len(desired))
	copy(want, desired)
	for i := range want {
		if want[i].Spec.Name == "" {
			want[i].Spec.Name = ContainerName(instance, want[i].Kind, want[i].Name, want[i].Replica)
		}
	}
	slices.SortStableFunc(want, func(a, b Desired) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(max(a.Replica, 1), max(b.Replica, 1)))
	})

	// Objects that cannot be planned for at all: declared twice, or two
	// objects mapping to one container name. Either would be a coin toss.
	blocked := make(map[key]bool)
	wanted := make(map[key]*Desired)
	byName := make(map[string][]key)
	for i := range want {
		d := &want[i]
		k := keyOf(d)
		if wanted[k] != nil {
			blocked[k] = true
			p.Conflicts = append(p.Conflicts, Conflict{
				Kind: d.Kind, Name: d.Name, Container: d.Spec.Name,
				Reason: "declared more than once",
			})
		}
		wanted[k] = d
		if !slices.Contains(byName[d.Spec.Name], k) {
			byName[d.Spec.Name] = append(byName[d.Spec.Name], k)
		}
	}
	for _, d := range want {
		others := byName[d.Spec.Name]
		if len(others) < 2 {
			continue
		}
		k := keyOf(&d)
		var names []string
		for _, o := range others {
			if o != k {
				names = append(names, o.String())
			}
		}
		blocked[k] = true
		p.Conflicts = append(p.Conflicts, Conflict{
			Kind: d.Kind, Name: d.Name, Container: d.Spec.Name,
			Reason: fmt.Sprintf("container name %s also used by %s", d.Spec.Name, strings.Join(names, ", ")),
		})
	}

	// Orphans go first: when kept, they hold names and ports. Replicas
	// past an object's count are not orphans: its file says they go.
	for k, cs := range ours {
		if wanted[k] != nil {
			continue
		}
		base := wanted[k.object()]
		if base != nil && base.Running && base.Blocked != "" {
			continue // left alone with the rest of the object (see Blocked)
		}
		for _, c := range cs {
			if c.State == container.StateRemoving {
				continue
			}
			op := Operation{Op: Remove, Kind: k.kind, Name: k.name, Replica: k.replica, Container: c.Name, ID: c.ID}
			switch {
			case base != nil && !base.Running:
				op.Cause = stoppedCause(base)
			case base != nil:
				op.Cause = fmt.Sprintf("scaled down: replicas %d", replicas(wanted, k.object()))
			case !opts.Prune:
				p.Orphans = append(p.Orphans, c)
				holders = append(holders, holder{c: c, orphan: true})
				continue
			default:
				op.Cause = "no file for " + k.object().String()
			}
			p.Ops = append(p.Ops, op)
		}
	}

	// Host ports claimed by two running objects: neither gets a container
	// until one file changes, rather than whichever sorts first.
	portBlocked := make(map[key]bool)
	for i, a := range want {
		for _, b := range want[i+1:] {
			ka, kb := keyOf(&a), keyOf(&b)
			if !a.Running || !b.Running || ka == kb {
				continue
			}
			for _, port := range sharedPorts(a.Spec.Ports, b.Spec.Ports) {
				portBlocked[ka], portBlocked[kb] = true, true
				p.Conflicts = append(p.Conflicts,
					Conflict{Kind: a.Kind, Name: a.Name, Container: a.Spec.Name,
						Reason: fmt.Sprintf("host port %d also claimed by %s", port, kb)},
					Conflict{Kind: b.Kind, Name: b.Name, Container: b.Spec.Name,
						Reason: fmt.Sprintf("host port %d also claimed by %s", port, ka)},
				)
			}
		}
	}

	for i := range want {
		d := &want[i]
		k := keyOf(d)
		if blocked[k] {
			continue
		}
		cs := ours[k]
		if !d.Running {
			for _, c := range cs {
				if c.State != container.StateRemoving {
					p.Ops = append(p.Ops, Operation{
						Op: Remove, Kind: d.Kind, Name: d.Name, Replica: d.Replica, Container: c.Name, ID: c.ID,
						Desired: d, Cause: stoppedCause(d),
					})
				}
			}
			continue
		}

		if d.Blocked != "" {
			p.Held = append(p.Held, Hold{Kind: d.Kind, Name: d.Name, Replica: d.Replica, Why: HoldBlocked, Cause: d.Blocked})
			continue
		}

		var cur *container.Container
		var dups []Operation
		if len(cs) > 0 {
			cur = &cs[0]
			for _, c := range cs[1:] {
				if c.State != container.StateRemoving {
					dups = append(dups, Operation{
						Op: Remove, Kind: d.Kind, Name: d.Name, Replica: d.Replica, Container: c.Name, ID: c.ID,
						Desired: d, Cause: fmt.Sprintf("duplicate of %s %s, keeping the newest", cur.Name, shortID(cur.ID)),
					})
				}
			}
		}

		op, ok := decide(d, cur)
		if (ok || len(dups) > 0) && backingOff(d, opts.Now) {
			p.Held = append(p.Held, Hold{Kind: d.Kind, Name: d.Name, Replica: d.Replica, Why: HoldBackoff,
				Cause: backoffCause(*d.Backoff, opts.Now), Retry: d.Backoff.Retry})
			continue
		}
		p.Ops = append(p.Ops, dups...)
		if !ok {
			continue
		}
		if portBlocked[k] {
			continue
		}
		if c := heldBy(d, holders); len(c) > 0 {
			p.Conflicts = append(p.Conflicts, c...)
			continue
		}
		if taken := takenPorts(d, opts.HostPorts); taken != "" {
			p.Held = append(p.Held, Hold{Kind: d.Kind, Name: d.Name, Replica: d.Replica, Why: HoldPort, Cause: taken})
			if op.Op != Create && cur.State != container.StateRunning {
				p.Ops = append(p.Ops, Operation{
					Op: Remove, Kind: d.Kind, Name: d.Name, Replica: d.Replica, Container: cur.Name, ID: cur.ID,
					Desired: d, Cause: "cannot start: " + taken,
				})
			}
			continue
		}
		if op.Op == Create || op.Op == Recreate {
			image, why := chooseImage(d, opts.ImageErrors)
			if image == "" {
				p.Held = append(p.Held, Hold{Kind: d.Kind, Name: d.Name, Replica: d.Replica, Why: HoldImage, Cause: why})
				continue
			}
			if image != d.Spec.Image {
				op.Image = image
				op.Cause += "; " + why
			}
		}
		p.Ops = append(p.Ops, op)
	}

	slices.SortFunc(p.Ops, compareOps)
	slices.SortFunc(p.Held, func(a, b Hold) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(max(a.Replica, 1), max(b.Replica, 1)))
	})
	byContainer := func(a, b container.Container) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	}
	slices.SortFunc(p.Unmanaged, byContainer)
	slices.SortFunc(p.Orphans, byContainer)
	slices.SortFunc(p.Conflicts, compareConflicts)
	p.Conflicts = slices.Compact(p.Conflicts)
	return p
}

// stoppedCause is why a desired object that is not running has no
// container: its state, or its placement.
func stoppedCause(d *Desired) string {
	if d.Elsewhere != "" {
		return d.Elsewhere
	}
	return "state: stopped"
}

// replicas counts the desired replicas of the object of k.
func replicas(wanted map[key]*Desired, k key) int {
	n := 0
	for w := range wanted {
		if w.object() == k {
			n++
		}
	}
	return n
}

// decide returns the operation that brings the kept container cur (nil when
// there is none) to the running object d, and false when none is needed.
func decide(d *Desired, cur *container.Container) (Operation, bool) {
	op := Operation{Kind: d.Kind, Name: d.Name, Replica: d.Replica, Container: d.Spec.Name, Desired: d}
	if cur == nil {
		op.Op, op.Cause = Create, "no container"
		return op, true
	}
	op.ID = cur.ID
	if cur.State == container.StateRemoving {
		return op, false
	}
	hashOK := Matches(d.Spec, cur.Labels[container.LabelSpecHash])
	// Where the ports are published is read back from the container, not
	// only from its labels: a port exposed on an address the files do not
	// ask for is a recreate whatever the labels say.
	misplaced := Misplaced(d.Spec, cur.Ports)
	if !hashOK || cur.Name != d.Spec.Name || misplaced != "" {
		var changed []string
		if !hashOK {
			changed = Changed(d.Spec, cur.Labels[LabelSpec])
		}
		if cur.Name != d.Spec.Name {
			changed = append(changed, "name")
		}
		if misplaced != "" && !slices.Contains(changed, "ports") {
			changed = append(changed, "ports")
		}
		slices.Sort(changed)
		op.Op, op.Cause = Recreate, "spec changed"
		if len(changed) > 0 {
			op.Changed = changed
			op.Cause += ": " + strings.Join(changed, ", ")
		}
		switch {
		case hashOK && cur.Name == d.Spec.Name:
			op.Cause = misplaced // the files did not change; the container is not as they say
		case misplaced != "":
			op.Cause += "; " + misplaced
		}
		return op, true
	}
	switch cur.State {
	case container.StateCreated:
		op.Op, op.Cause = Start, "container created, not started"
	case container.StateExited:
		op.Op, op.Cause = Start, fmt.Sprintf("container exited (code %d)", cur.ExitCode)
	case container.StateDead:
		// Docker cannot start a dead container, only remove it.
		op.Op, op.Cause = Recreate, "container dead"
	default:
		// running, restarting, paused (someone paused it on purpose) or a
		// state this version does not know: leave it.
		return op, false
	}
	return op, true
}

// backingOff reports whether d's backoff holds it at now: it is for d's
// current spec and ends later.
func backingOff(d *Desired, now time.Time) bool {
	b := d.Backoff
	return b != nil && now.Before(b.Retry) && b.Spec == Hash(d.Spec)
}

// backoffCause says what a backoff waits for: "restarting in 8s: crash
// loop: ..." or "retrying in 4s after 2 failed attempts: ...".
func backoffCause(b Backoff, now time.Time) string {
	in := b.Retry.Sub(now).Round(time.Second)
	if in < time.Second {
		in = time.Second
	}
	if b.CrashLoop {
		return fmt.Sprintf("restarting in %s: %s", in, b.Reason)
	}
	attempts := "1 failed attempt"
	if b.Attempts != 1 {
		attempts = fmt.Sprintf("%d failed attempts", b.Attempts)
	}
	return fmt.Sprintf("retrying in %s after %s: %s", in, attempts, b.Reason)
}

// takenPorts names the host ports d publishes that are taken outside
// Docker, and who holds them; "" when none is.
func takenPorts(d *Desired, taken map[int]string) string {
	var ports []int
	for _, p := range d.Spec.Ports {
		if _, ok := taken[p.HostPort]; ok && p.HostPort != 0 {
			ports = append(ports, p.HostPort)
		}
	}
	slices.Sort(ports)
	var out []string
	for _, port := range slices.Compact(ports) {
		out = append(out, fmt.Sprintf("host port %d is held by %s", port, taken[port]))
	}
	return strings.Join(out, "; ")
}

// chooseImage returns the image a create of d uses: the first of its main
// image and alternatives that is not among the failed ones, with what to
// add to the cause when it is an alternative; or "" and why none is left.
func chooseImage(d *Desired, failed map[string]string) (image, why string) {
	var tried []string
	for _, ref := range append([]string{d.Spec.Image}, d.Alternatives...) {
		if _, bad := failed[ref]; !bad {
			if len(tried) > 0 {
				why = fmt.Sprintf("alternative image %s, as %s could not be had", ref, strings.Join(tried, " and "))
			}
			return ref, why
		}
		tried = append(tried, ref)
	}
	if len(d.Alternatives) == 0 {
		return "", fmt.Sprintf("image %s is not available: %s", d.Spec.Image, failed[d.Spec.Image])
	}
	var whys []string
	for _, ref := range tried {
		whys = append(whys, ref+": "+failed[ref])
	}
	return "", "no image of the engine could be had; tried " + strings.Join(whys, "; ")
}

// heldBy returns the conflicts that stop d's container from being created
// or started: its name or one of its host ports held by a container that
// stays.
func heldBy(d *Desired, holders []holder) []Conflict {
	var out []Conflict
	for _, h := range holders {
		if h.c.Name == d.Spec.Name {
			out = append(out, Conflict{
				Kind: d.Kind, Name: d.Name, Container: d.Spec.Name,
				Reason: fmt.Sprintf("container name %s is held by %s", d.Spec.Name, h),
			})
		}
		for _, port := range sharedPorts(d.Spec.Ports, h.c.Ports) {
			out = append(out, Conflict{
				Kind: d.Kind, Name: d.Name, Container: d.Spec.Name,
				Reason: fmt.Sprintf("host port %d is held by %s", port, h),
			})
		}
	}
	return out
}

// sharedPorts returns the host ports, sorted and once each, that both lists
// publish on overlapping addresses. Port 0 (ephemeral) never overlaps.
func sharedPorts(a, b []container.Port) []int {
	var out []int
	for _, x := range a {
		for _, y := range b {
			if x.HostPort != 0 && x.HostPort == y.HostPort && sameAddr(x.HostIP, y.HostIP) {
				out = append(out, x.HostPort)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sameAddr reports whether two host addresses can collide; a wildcard
// (empty, 0.0.0.0 or ::) collides with everything, since Docker binds it on
// all addresses.
func sameAddr(a, b string) bool {
	wild := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return wild(a) || wild(b) || a == b
}

func compareConflicts(a, b Conflict) int {
	return cmp.Or(
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Container, b.Container),
		cmp.Compare(a.Reason, b.Reason),
	)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
