// Package docker implements container.Runtime on the Docker Engine API
// through the Docker Go SDK.
//
// The client negotiates the API version with the daemon, so a current SDK
// talks to an old daemon (Docker 20.10, API 1.41). Every connection is
// dialled with a short timeout: an unreachable daemon is reported as
// container.ErrUnavailable within seconds, never after a TCP timeout.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/aima-dev/aima/agent/container"
)

const (
	// DialTimeout bounds connecting to the daemon. A local socket or a
	// daemon on the LAN connects in milliseconds; anything slower is
	// treated as unreachable rather than hanging the sync loop.
	DialTimeout = 2 * time.Second
	// PingTimeout bounds Ping as a whole, so that a daemon that accepts
	// connections but does not answer is also reported as unavailable.
	PingTimeout = 3 * time.Second
)

// Runtime is a container.Runtime backed by a Docker daemon. It is safe for
// concurrent use.
type Runtime struct {
	cli *client.Client
}

var _ container.Runtime = (*Runtime)(nil)

// New returns a Runtime for the daemon named by the environment
// (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY,
// as the docker CLI reads them), with API version negotiation. opts are
// applied after the environment, so client.WithHost overrides DOCKER_HOST.
// New does not contact the daemon: an agent must start, and report, while
// Docker is down.
func New(opts ...client.Opt) (*Runtime, error) {
	// Our own transport, so that its dialer can be wrapped with a timeout
	// once the options (which may change the host) have configured it.
	tr := &http.Transport{}
	all := []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithHost(client.DefaultDockerHost),
		client.FromEnv,
		client.WithAPIVersionNegotiation(),
	}
	all = append(all, opts...)
	cli, err := client.NewClientWithOpts(all...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if dial := tr.DialContext; dial != nil {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, DialTimeout)
			defer cancel()
			return dial(ctx, network, addr)
		}
	}
	return &Runtime{cli: cli}, nil
}

// Client returns the underlying Docker client, for the few callers that
// need more than Runtime offers (building the stub image).
func (r *Runtime) Client() client.APIClient { return r.cli }

// Close releases the client's idle connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Ping checks that the daemon answers within PingTimeout.
func (r *Runtime) Ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if _, err := r.cli.Ping(pctx); err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			return fmt.Errorf("docker ping %s: %w: no answer within %s", r.cli.DaemonHost(), container.ErrUnavailable, PingTimeout)
		}
		return r.wrap(ctx, "docker ping", err)
	}
	return nil
}

// managedFilter selects the events of containers that carry
// aima.managed=true.
func managedFilter() filters.Args {
	return filters.NewArgs(filters.Arg("label", container.LabelManaged+"=true"))
}

// List returns every container that carries an aima label (see
// container.Labelled), of any instance and state, from a single list call.
// Docker's label filters cannot select a key prefix (several filters must
// all match), so the call lists every container and the labelled ones are
// kept here: the cost of `docker ps -a`.
//
// The list call reports published ports only for running containers, so
// Ports is empty for created and exited ones (Inspect reports the
// configured ports in every state). ExitCode is read from the status text
// ("Exited (137) 2 seconds ago") that the list call returns.
func (r *Runtime) List(ctx context.Context) ([]container.Container, error) {
	list, err := r.cli.ContainerList(ctx, dcontainer.ListOptions{All: true})
	if err != nil {
		return nil, r.wrap(ctx, "docker list containers", err)
	}
	out := make([]container.Container, 0, len(list))
	for _, s := range list {
		if container.Labelled(s.Labels) {
			out = append(out, fromSummary(s))
		}
	}
	return out, nil
}

var exitedStatus = regexp.MustCompile(`^Exited \((-?\d+)\)`)

func fromSummary(s dcontainer.Summary) container.Container {
	c := container.Container{
		ID:      s.ID,
		Image:   s.Image,
		Labels:  s.Labels,
		State:   container.State(s.State),
		Created: time.Unix(s.Created, 0),
	}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	if m := exitedStatus.FindStringSubmatch(s.Status); m != nil {
		c.ExitCode, _ = strconv.Atoi(m[1])
	}
	seen := map[container.Port]bool{}
	for _, p := range s.Ports {
		if p.Type != "tcp" || p.PublicPort == 0 {
			continue
		}
		port := container.Port{HostIP: hostIP(p.IP), HostPort: int(p.PublicPort), ContainerPort: int(p.PrivatePort)}
		if !seen[port] {
			seen[port] = true
			c.Ports = append(c.Ports, port)
		}
	}
	sortPorts(c.Ports)
	return c
}

// hostIP maps the unspecified addresses Docker reports for a binding on
// all interfaces (one entry for 0.0.0.0 and one for ::) to "", as in Spec.
func hostIP(ip string) string {
	if addr := net.ParseIP(ip); addr == nil || addr.IsUnspecified() {
		return ""
	}
	return ip
}

func sortPorts(ports []container.Port) {
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.HostPort != b.HostPort {
			return a.HostPort < b.HostPort
		}
		return a.HostIP < b.HostIP
	})
}

// Inspect returns one container by id or name. Ports are the configured
// bindings, whatever the state.
func (r *Runtime) Inspect(ctx context.Context, id string) (container.Container, error) {
	resp, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return container.Container{}, r.wrap(ctx, "docker inspect container "+id, err)
	}
	c := container.Container{
		ID:   resp.ID,
		Name: strings.TrimPrefix(resp.Name, "/"),
	}
	if resp.Config != nil {
		c.Image = resp.Config.Image
		c.Labels = resp.Config.Labels
	}
	if resp.State != nil {
		c.State = container.State(resp.State.Status)
		c.ExitCode = resp.State.ExitCode
	}
	if t, err := time.Parse(time.RFC3339Nano, resp.Created); err == nil {
		c.Created = t
	}
	if resp.HostConfig != nil {
		for cport, bindings := range resp.HostConfig.PortBindings {
			if cport.Proto() != "tcp" {
				continue
			}
			for _, b := range bindings {
				hp, _ := strconv.Atoi(b.HostPort)
				c.Ports = append(c.Ports, container.Port{HostIP: b.HostIP, HostPort: hp, ContainerPort: cport.Int()})
			}
		}
		sortPorts(c.Ports)
	}
	return c, nil
}

// EnsureImage returns at once when the image is present; otherwise it pulls
// it, passing progress lines to progress. A failed pull (the call or an
// error in the progress stream) is container.ErrImage with the daemon's
// reason.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, progress func(string)) error {
	_, err := r.cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return r.wrap(ctx, "docker inspect image "+ref, err)
	}
	if progress != nil {
		progress(fmt.Sprintf("pulling %s", ref))
	}
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		if unavailable(ctx, err) || ctx.Err() != nil {
			return r.wrap(ctx, "docker pull "+ref, err)
		}
		return fmt.Errorf("docker pull %s: %w: %v", ref, container.ErrImage, err)
	}
	defer rc.Close()
	if err := readPull(rc, progress); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("docker pull %s: %w", ref, ctx.Err())
		}
		return fmt.Errorf("docker pull %s: %w: %v", ref, container.ErrImage, err)
	}
	// A pull that "succeeds" without the image (a daemon quirk, or a
	// reference that names a manifest list without our platform) must not
	// pass for success: Create would fail later with a vaguer message.
	if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("docker pull %s: %w: image still absent after pull", ref, container.ErrImage)
		}
		return r.wrap(ctx, "docker inspect image "+ref, err)
	}
	return nil
}

// readPull reads the JSON progress stream of a pull to its end and returns
// the first error it reports. Per layer it passes on status changes and
// every tenth of the download, not every progress tick.
func readPull(rd io.Reader, progress func(string)) error {
	type layer struct {
		status string
		tenth  int64
	}
	layers := map[string]*layer{}
	dec := json.NewDecoder(rd)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read progress: %w", err)
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		if m.ErrorMessage != "" {
			return errors.New(m.ErrorMessage)
		}
		if progress == nil || m.Status == "" {
			continue
		}
		l := layers[m.ID]
		if l == nil {
			l = &layer{tenth: -1}
			layers[m.ID] = l
		}
		line := m.Status
		if m.ID != "" {
			line = m.ID + ": " + m.Status
		}
		tenth := int64(-1)
		if m.Progress != nil && m.Progress.Total > 0 {
			tenth = m.Progress.Current * 10 / m.Progress.Total
			line = fmt.Sprintf("%s %d%%", line, tenth*10)
		}
		if m.Status == l.status && tenth == l.tenth {
			continue
		}
		l.status, l.tenth = m.Status, tenth
		progress(line)
	}
}

// Create creates the container described by spec, with restart policy
// "no": restarting is the sync loop's decision, with backoff and a
// reason, not the daemon's. A missing image is container.ErrImage, a
// taken name container.ErrConflict.
func (r *Runtime) Create(ctx context.Context, spec container.Spec) (string, error) {
	cfg, hcfg, err := createConfig(spec)
	if err != nil {
		return "", fmt.Errorf("docker create %s: %w", spec.Name, err)
	}
	resp, err := r.cli.ContainerCreate(ctx, cfg, hcfg, nil, nil, spec.Name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			// The only thing create looks up is the image.
			return "", fmt.Errorf("docker create %s: %w: %v", spec.Name, container.ErrImage, err)
		}
		return "", r.wrap(ctx, "docker create "+spec.Name, err)
	}
	return resp.ID, nil
}

// Start starts a created or exited container; starting a running one does
// nothing.
func (r *Runtime) Start(ctx context.Context, id string) error {
	if err := r.cli.ContainerStart(ctx, id, dcontainer.StartOptions{}); err != nil {
		return r.wrap(ctx, "docker start "+id, err)
	}
	return nil
}

// Stop sends SIGTERM and, after timeout (rounded up to whole seconds),
// SIGKILL. Stopping a container that is not running does nothing.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int((timeout + time.Second - 1) / time.Second)
	if secs < 0 {
		secs = 0
	}
	if err := r.cli.ContainerStop(ctx, id, dcontainer.StopOptions{Timeout: &secs}); err != nil {
		return r.wrap(ctx, "docker stop "+id, err)
	}
	return nil
}

// Remove removes a container and its anonymous volumes, killing it first
// if it runs (callers that want a graceful stop call Stop before). A
// missing container is container.ErrNotFound, as for every other method;
// callers that only want it gone ignore that error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	err := r.cli.ContainerRemove(ctx, id, dcontainer.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil {
		return r.wrap(ctx, "docker remove "+id, err)
	}
	return nil
}

// Logs writes the container's stdout and stderr to w, demultiplexed. With
// follow it streams until the container stops, or until ctx ends, which is
// then not an error.
func (r *Runtime) Logs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	opts := dcontainer.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Tail: "all"}
	if tail > 0 {
		opts.Tail = strconv.Itoa(tail)
	}
	rc, err := r.cli.ContainerLogs(ctx, id, opts)
	if err != nil {
		return r.wrap(ctx, "docker logs "+id, err)
	}
	defer rc.Close()
	// aima never allocates a TTY, so the stream is always multiplexed.
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil {
		if follow && ctx.Err() != nil {
			return nil
		}
		return r.wrap(ctx, "docker logs "+id, err)
	}
	return nil
}

// eventTypes maps the Docker actions aima reacts to.
var eventTypes = map[events.Action]container.EventType{
	events.ActionStart:   container.EventStart,
	events.ActionDie:     container.EventDie,
	events.ActionOOM:     container.EventOOM,
	events.ActionDestroy: container.EventDestroy,
}

// Events streams start, die, oom and destroy events of containers labelled
// aima.managed=true. The subscription is in place when Events returns, so
// nothing that happens afterwards is missed. The event channel is never
// closed; the error channel receives exactly one error, ctx's error when
// ctx ends, and is then closed. Event.Labels holds the container's labels
// with the "aima." prefix (Docker mixes labels with its own attributes such
// as name and exitCode, and cannot tell them apart).
func (r *Runtime) Events(ctx context.Context) (<-chan container.Event, <-chan error) {
	f := managedFilter()
	f.Add("type", string(events.ContainerEventType))
	for a := range eventTypes {
		f.Add("event", string(a))
	}
	out := make(chan container.Event)
	errs := make(chan error, 1)
	// The client reads its API version without a lock when it opens the
	// event stream, while the first request of another goroutine may be
	// negotiating it (a data race in docker/docker's client). A versioned
	// request first settles the negotiation, once and for all.
	if _, err := r.cli.ServerVersion(ctx); err != nil {
		errs <- r.wrap(ctx, "docker events", err)
		close(errs)
		return out, errs
	}
	msgs, derrs := r.cli.Events(ctx, events.ListOptions{Filters: f})
	go func() {
		defer close(errs)
		for {
			select {
			case m := <-msgs:
				t, ok := eventTypes[m.Action]
				if !ok {
					continue
				}
				ev := container.Event{Type: t, ID: m.Actor.ID, Labels: map[string]string{}}
				for k, v := range m.Actor.Attributes {
					if strings.HasPrefix(k, "aima.") {
						ev.Labels[k] = v
					}
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			case err := <-derrs:
				switch {
				case ctx.Err() != nil:
					errs <- ctx.Err()
				case err == nil || errors.Is(err, io.EOF):
					errs <- fmt.Errorf("docker events: %w: stream closed by the daemon", container.ErrUnavailable)
				default:
					errs <- r.wrap(ctx, "docker events", err)
				}
				return
			}
		}
	}()
	return out, errs
}

// wrap adds op as context to err and maps Docker's error kinds to the
// container package's sentinels.
func (r *Runtime) wrap(ctx context.Context, op string, err error) error {
	switch {
	case unavailable(ctx, err):
		return fmt.Errorf("%s: %w: %w", op, container.ErrUnavailable, err)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", op, err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%s: %w: %w", op, container.ErrNotFound, err)
	case cerrdefs.IsConflict(err):
		return fmt.Errorf("%s: %w: %w", op, container.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err means the daemon could not be reached:
// a failed connection, or a timeout that is not the caller's own deadline
// (a dial that hit DialTimeout).
func unavailable(ctx context.Context, err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}
