// Package fake is an in-memory container.Runtime for tests of the sync
// loop. It passes the same contract test (agent/container/containertest)
// as the Docker adapter, and adds the controls a test needs to provoke
// what Docker does on its own: images that exist or not, containers that
// crash or are OOM-killed, a daemon that goes away.
package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aima-dev/aima/agent/container"
)

// Runtime is the in-memory runtime. The zero value is not usable; call New.
// It is safe for concurrent use.
type Runtime struct {
	mu          sync.Mutex
	unavailable bool
	images      map[string]string // reference -> output of its containers
	byID        map[string]*box
	byName      map[string]*box
	subs        map[*subscriber]struct{}
	seq         int
	now         func() time.Time
}

// box is one container and what only the fake knows about it.
type box struct {
	c     container.Container
	spec  container.Spec
	log   bytes.Buffer
	wake  chan struct{} // closed and replaced when log or state changes
	alive bool          // false once removed
}

var _ container.Runtime = (*Runtime)(nil)

// New returns an empty, available runtime without images.
func New() *Runtime {
	return &Runtime{
		images: map[string]string{},
		byID:   map[string]*box{},
		byName: map[string]*box{},
		subs:   map[*subscriber]struct{}{},
		now:    time.Now,
	}
}

// AddImage makes ref present, so EnsureImage and Create succeed for it.
// Every start of a container from ref appends output to its log.
func (r *Runtime) AddImage(ref, output string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[ref] = output
}

// SetUnavailable makes every call fail with container.ErrUnavailable (or
// succeed again). Making the runtime unavailable also breaks every open
// event stream with ErrUnavailable, as a daemon going away does.
func (r *Runtime) SetUnavailable(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unavailable = down
	if !down {
		return
	}
	for s := range r.subs {
		s.fail(fmt.Errorf("fake events: %w", container.ErrUnavailable))
		delete(r.subs, s)
	}
}

// Kill ends a running container as a crash would: it becomes exited with
// exitCode and a die event is sent. It fails with container.ErrNotFound
// for an unknown container and does nothing to one that is not running.
// Kill works while the runtime is unavailable: containers crash whether
// or not aima can see the daemon.
func (r *Runtime) Kill(id string, exitCode int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.find("fake kill", id)
	if err != nil {
		return err
	}
	r.exit(b, exitCode)
	return nil
}

// OOMKill ends a running container as the OOM killer does: an oom event,
// then exited with code 137 and a die event.
func (r *Runtime) OOMKill(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.find("fake oom-kill", id)
	if err != nil {
		return err
	}
	if b.c.State != container.StateRunning {
		return nil
	}
	r.publish(container.EventOOM, b)
	r.exit(b, 137)
	return nil
}

// AppendLog appends text to a container's output, as if it printed it.
func (r *Runtime) AppendLog(id, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.find("fake append log", id)
	if err != nil {
		return err
	}
	b.log.WriteString(text)
	b.changed()
	return nil
}

// Spec returns the spec a container was created from, for tests that check
// what the sync loop asked for (GPUs, mounts, env) beyond what Container
// reports.
func (r *Runtime) Spec(id string) (container.Spec, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.find("fake spec", id)
	if err != nil {
		return container.Spec{}, err
	}
	return cloneSpec(b.spec), nil
}

// check fails when the runtime is unavailable or ctx has ended. It is
// called with r.mu held.
func (r *Runtime) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if r.unavailable {
		return fmt.Errorf("%s: %w", op, container.ErrUnavailable)
	}
	return nil
}

// find looks a container up by id or name, with r.mu held.
func (r *Runtime) find(op, id string) (*box, error) {
	if b, ok := r.byID[id]; ok {
		return b, nil
	}
	if b, ok := r.byName[strings.TrimPrefix(id, "/")]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s %s: %w: no such container", op, id, container.ErrNotFound)
}

// exit makes a running container exited with code and sends die, with
// r.mu held.
func (r *Runtime) exit(b *box, code int) {
	if b.c.State != container.StateRunning {
		return
	}
	b.c.State = container.StateExited
	b.c.ExitCode = code
	b.changed()
	r.publish(container.EventDie, b)
}

func (b *box) changed() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// Ping succeeds unless the runtime is unavailable.
func (r *Runtime) Ping(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.check(ctx, "fake ping")
}

// List returns the containers that carry an aima label, oldest first.
// Like Docker's list, it reports ports only for running containers, and a
// port published on every address ("", 0.0.0.0 or ::) with HostIP "".
func (r *Runtime) List(ctx context.Context) ([]container.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake list"); err != nil {
		return nil, err
	}
	var out []container.Container
	for _, b := range r.byID {
		if !container.Labelled(b.c.Labels) {
			continue
		}
		c := cloneContainer(b.c)
		if c.State != container.StateRunning {
			c.Ports = nil
		}
		var ports []container.Port
		for _, p := range c.Ports {
			if a, err := netip.ParseAddr(p.HostIP); err == nil && a.IsUnspecified() {
				p.HostIP = ""
			}
			if !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
		c.Ports = ports
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// EnsureImage succeeds for images added with AddImage and fails with
// container.ErrImage for any other, as a pull from an unreachable
// registry does.
func (r *Runtime) EnsureImage(ctx context.Context, image string, progress func(string)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake ensure image "+image); err != nil {
		return err
	}
	if _, ok := r.images[image]; ok {
		return nil
	}
	if progress != nil {
		progress("pulling " + image)
	}
	return fmt.Errorf("fake pull %s: %w: repository does not exist", image, container.ErrImage)
}

// Create records a created container. Its image must have been added.
func (r *Runtime) Create(ctx context.Context, spec container.Spec) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op := "fake create " + spec.Name
	if err := r.check(ctx, op); err != nil {
		return "", err
	}
	if _, ok := r.images[spec.Image]; !ok {
		return "", fmt.Errorf("%s: %w: no such image %s", op, container.ErrImage, spec.Image)
	}
	r.seq++
	id := fmt.Sprintf("%064x", r.seq)
	name := spec.Name
	if name == "" {
		name = "fake_" + id[len(id)-12:]
	}
	if _, ok := r.byName[name]; ok {
		return "", fmt.Errorf("%s: %w: name already in use", op, container.ErrConflict)
	}
	b := &box{
		spec: cloneSpec(spec),
		wake: make(chan struct{}),
		c: container.Container{
			ID:      id,
			Name:    name,
			Image:   spec.Image,
			Labels:  maps.Clone(spec.Labels),
			State:   container.StateCreated,
			Ports:   slices.Clone(spec.Ports),
			Created: r.now(),
		},
		alive: true,
	}
	r.byID[id] = b
	r.byName[name] = b
	return id, nil
}

// Start makes a created or exited container running and sends start;
// a running one is left alone.
func (r *Runtime) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake start "+id); err != nil {
		return err
	}
	b, err := r.find("fake start", id)
	if err != nil {
		return err
	}
	if b.c.State == container.StateRunning {
		return nil
	}
	b.c.State = container.StateRunning
	b.c.ExitCode = 0
	b.log.WriteString(r.images[b.c.Image])
	b.changed()
	r.publish(container.EventStart, b)
	return nil
}

// Stop makes a running container exited with code 0 (it heeded SIGTERM)
// and sends die; a container that is not running is left alone.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake stop "+id); err != nil {
		return err
	}
	b, err := r.find("fake stop", id)
	if err != nil {
		return err
	}
	r.exit(b, 0)
	return nil
}

// Remove deletes a container, killing it first if it runs (die with 137,
// then destroy). A missing container is container.ErrNotFound.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake remove "+id); err != nil {
		return err
	}
	b, err := r.find("fake remove", id)
	if err != nil {
		return err
	}
	r.exit(b, 137)
	delete(r.byID, b.c.ID)
	delete(r.byName, b.c.Name)
	b.alive = false
	b.changed()
	r.publish(container.EventDestroy, b)
	return nil
}

// Inspect returns a container by id or name, with its configured ports.
func (r *Runtime) Inspect(ctx context.Context, id string) (container.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake inspect "+id); err != nil {
		return container.Container{}, err
	}
	b, err := r.find("fake inspect", id)
	if err != nil {
		return container.Container{}, err
	}
	return cloneContainer(b.c), nil
}

// Logs writes the container's output: what its image prints on each start
// (see AddImage) and whatever AppendLog added. With follow it keeps
// writing what is appended until the container stops or is removed, or
// ctx ends, which is not an error.
func (r *Runtime) Logs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	r.mu.Lock()
	if err := r.check(ctx, "fake logs "+id); err != nil {
		r.mu.Unlock()
		return err
	}
	b, err := r.find("fake logs", id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	out := tailLines(b.log.Bytes(), tail)
	written := b.log.Len()
	for {
		wake, running, alive := b.wake, b.c.State == container.StateRunning, b.alive
		r.mu.Unlock()
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("fake logs %s: %w", id, err)
		}
		if !follow || !running || !alive {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
		r.mu.Lock()
		out = slices.Clone(b.log.Bytes()[written:])
		written = b.log.Len()
	}
}

// tailLines returns a copy of the last n lines of log, all of it for n <= 0.
func tailLines(log []byte, n int) []byte {
	if n <= 0 {
		return slices.Clone(log)
	}
	end := len(log)
	if end > 0 && log[end-1] == '\n' {
		end--
	}
	start := 0
	for i := end - 1; i >= 0; i-- {
		if log[i] == '\n' {
			n--
			if n == 0 {
				start = i + 1
				break
			}
		}
	}
	return slices.Clone(log[start:])
}

// Events streams events of containers labelled aima.managed=true, with the
// same channel behaviour as the Docker adapter: the event channel is never
// closed; the error channel receives one error (ctx's when ctx ends,
// ErrUnavailable when the runtime becomes unavailable) and is then closed.
// Events are queued without bound, so a slow reader never blocks the
// runtime.
func (r *Runtime) Events(ctx context.Context) (<-chan container.Event, <-chan error) {
	out := make(chan container.Event)
	errs := make(chan error, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ctx, "fake events"); err != nil {
		errs <- err
		close(errs)
		return out, errs
	}
	s := &subscriber{notify: make(chan struct{}, 1), done: make(chan struct{})}
	r.subs[s] = struct{}{}
	go func() {
		defer close(errs)
		err := s.run(ctx, out)
		r.mu.Lock()
		delete(r.subs, s)
		r.mu.Unlock()
		errs <- err
	}()
	return out, errs
}

// publish queues an event of typ for b to every subscriber, with r.mu held.
func (r *Runtime) publish(typ container.EventType, b *box) {
	if b.c.Labels[container.LabelManaged] != "true" {
		return
	}
	ev := container.Event{Type: typ, ID: b.c.ID, Labels: maps.Clone(b.c.Labels)}
	for s := range r.subs {
		s.push(ev)
	}
}

// subscriber is one Events stream: an unbounded queue drained by its own
// goroutine.
type subscriber struct {
	mu     sync.Mutex
	queue  []container.Event
	err    error
	notify chan struct{} // a token when queue or err changed
	done   chan struct{} // closed by fail
	once   sync.Once
}

func (s *subscriber) push(ev container.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// fail ends the stream with err once the queued events are delivered.
func (s *subscriber) fail(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	})
}

// run delivers queued events to out until ctx ends or fail is called, and
// returns the error that ended the stream.
func (s *subscriber) run(ctx context.Context, out chan<- container.Event) error {
	for {
		s.mu.Lock()
		queue := s.queue
		s.queue = nil
		err := s.err
		s.mu.Unlock()
		for _, ev := range queue {
			select {
			case out <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
		if len(queue) > 0 {
			continue
		}
		select {
		case <-s.notify:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func cloneContainer(c container.Container) container.Container {
	c.Labels = maps.Clone(c.Labels)
	c.Ports = slices.Clone(c.Ports)
	return c
}

func cloneSpec(s container.Spec) container.Spec {
	s.Entrypoint = slices.Clone(s.Entrypoint)
	s.Cmd = slices.Clone(s.Cmd)
	s.Env = slices.Clone(s.Env)
	s.Labels = maps.Clone(s.Labels)
	s.Ports = slices.Clone(s.Ports)
	s.Mounts = slices.Clone(s.Mounts)
	s.GPUs = slices.Clone(s.GPUs)
	return s
}
