package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/plan"
)

// Status words of a service or app. They are derived from Docker (and
// health probes) each time they are asked for; they are never stored.
const (
	StatusPending   = "pending"   // wanted, no container yet
	StatusCreating  = "creating"  // a create is in flight
	StatusStarting  = "starting"  // container up, not yet healthy
	StatusRunning   = "running"   // healthy
	StatusUnhealthy = "unhealthy" // up, health check failing past its startup timeout
	StatusFailed    = "failed"    // cannot be converged; see reason
	StatusStopped   = "stopped"   // state: stopped, no container
	StatusElsewhere = "elsewhere" // placed on other hosts of a fleet: no container here
	StatusUnknown   = "unknown"   // Docker unreachable
)

// Status is the observed state of one service or app.
type Status struct {
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Container string    `json:"container,omitempty"`
	Endpoint  string    `json:"endpoint,omitempty"`
	Health    string    `json:"health,omitempty"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since,omitzero"`
	Drift     bool      `json:"drift"`
	// Replica is the replica this status is of (in Replicas; 0 otherwise).
	Replica int `json:"replica,omitempty"`
	// Replicas are the statuses of each replica of a service of several
	// (JSON replica_statuses, beside ready "N/M": replicas is the file's
	// count); the service's own status is then the least advanced of them
	// (all running: running), its reason naming the replica.
	Replicas []Status `json:"replica_statuses,omitempty"`
}

// Map renders the status as fields to merge into an object's JSON.
func (s Status) Map() map[string]any {
	m := map[string]any{"status": s.Status, "restarts": s.Restarts, "drift": s.Drift}
	for k, v := range map[string]string{"reason": s.Reason, "container": s.Container, "endpoint": s.Endpoint, "health": s.Health} {
		if v != "" {
			m[k] = v
		}
	}
	if !s.Since.IsZero() {
		m["since"] = s.Since.UTC().Format(time.RFC3339)
	}
	if s.Replica > 0 {
		m["replica"] = s.Replica
	}
	if len(s.Replicas) > 0 {
		rs := make([]map[string]any, len(s.Replicas))
		ready := 0
		for i, r := range s.Replicas {
			rs[i] = r.Map()
			if r.Status == StatusRunning {
				ready++
			}
		}
		m["replica_statuses"] = rs
		m["ready"] = fmt.Sprintf("%d/%d", ready, len(s.Replicas))
	}
	return m
}

// rank orders status words from the least advanced (failed) to running,
// for the status of a service of several replicas.
var rank = map[string]int{StatusFailed: 0, StatusUnhealthy: 1, StatusUnknown: 2, StatusPending: 3, StatusCreating: 4, StatusStarting: 5, StatusStopped: 6, StatusElsewhere: 6, StatusRunning: 7}

// combine is the status of a service from its replicas' (from replica 1):
// replica 1's fields, with the status and reason of the least advanced
// replica, and every replica's status in Replicas.
func combine(rs []Status) Status {
	if len(rs) == 1 {
		st := rs[0]
		st.Replica = 0
		return st
	}
	st := rs[0]
	st.Replica = 0
	st.Replicas = rs
	worst := rs[0]
	for _, r := range rs[1:] {
		if rank[r.Status] < rank[worst.Status] {
			worst = r
		}
		st.Drift = st.Drift || r.Drift
	}
	if worst.Replica != 1 {
		st.Status, st.Reason, st.Health = worst.Status, fmt.Sprintf("replica %d: %s", worst.Replica, cmp.Or(worst.Reason, worst.Status)), worst.Health
	}
	return st
}

// Unmanaged is a container that carries aima labels but is not this
// instance's to manage: another instance's, or one that only looks like
// aima's (run by hand with aima.engine=vllm, say). aima reports it and
// never touches it; when it holds a port or name a service needs, that
// service's conflict names it.
type Unmanaged struct {
	Container string           `json:"container"`
	ID        string           `json:"id"`
	Image     string           `json:"image,omitempty"`
	State     string           `json:"state"`
	Instance  string           `json:"instance,omitempty"` // its aima.instance label
	Kind      string           `json:"kind,omitempty"`     // its aima.kind label
	Name      string           `json:"name,omitempty"`     // its aima.name label
	Ports     []container.Port `json:"ports,omitempty"`
	// Reason says why it is not ours: `of instance "box2"`, ... (plan.Whose).
	Reason string `json:"reason"`
}

// Unmanaged lists the containers with aima labels that are not ours, by
// container name (one container list).
func (s *Syncer) Unmanaged(ctx context.Context) ([]Unmanaged, error) {
	obs, err := observe(ctx, s.Runtime, s.Instance)
	if err != nil {
		return nil, err
	}
	out := []Unmanaged{}
	for _, c := range obs.Others {
		id := c.ID
		if len(id) > 12 {
			id = id[:12]
		}
		out = append(out, Unmanaged{Container: c.Name, ID: id, Image: c.Image, State: string(c.State),
			Instance: c.Labels[container.LabelInstance], Kind: c.Labels[container.LabelKind], Name: c.Labels[container.LabelName],
			Ports: c.Ports, Reason: plan.Whose(c)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Container < out[j].Container })
	return out, nil
}

// Statuses derives the status of every service and app from the files,
// one container list, the plan (for conflicts: a name or port held by
// something aima must not touch) and a health probe per running container.
func (s *Syncer) Statuses(ctx context.Context) (map[Object]Status, error) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	res, err := s.plan(ctx, "", planInputs{}) // the revision label plays no part in a status
	out := map[Object]Status{}
	if err != nil {
		if res.Wanted == nil {
			return nil, err
		}
		for _, w := range res.Wanted {
			reason := "docker: " + err.Error()
			if s.Host.Cluster {
				reason = err.Error() // "kubernetes list: ..."
			}
			out[w.Object] = Status{Status: StatusUnknown, Reason: reason}
		}
		if errors.Is(err, container.ErrUnavailable) {
			return out, nil
		}
		return out, err
	}
	conflicts := map[Object]string{}
	for _, c := range res.Plan.Conflicts {
		o := Object{c.Kind, c.Name}
		if prev := conflicts[o]; prev != "" {
			conflicts[o] = prev + "; " + c.Reason
		} else {
			conflicts[o] = c.Reason
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	replicas := map[Object][]Status{}
	for _, w := range res.Wanted {
		ports := w.ports()
		rs := make([]Status, len(ports))
		for i, port := range ports {
			rs[i] = s.status(w, i+1, port, res.Observed, conflicts[w.Object])
			// Ready by the runtime's own check (Kubernetes): an Ollama
			// engine still has its model to pull.
			ready := rs[i].Status == StatusRunning && rs[i].Health == "ok" && w.Ollama != ""
			if rs[i].Status == StatusStarting && rs[i].Health == "probing" || ready {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var probed Status
					if ready {
						pctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
						probed = s.ollamaReady(pctx, w, rs[i])
						cancel()
					} else {
						probed = s.probe(ctx, w, rs[i])
					}
					mu.Lock() // the probes of other replicas write rs too
					rs[i] = probed
					mu.Unlock()
				}()
			}
		}
		replicas[w.Object] = rs
	}
	wg.Wait()
	for o, rs := range replicas {
		out[o] = combine(rs)
	}
	return out, nil
}

// Observed derives the observed fields of every service and app at once
// (one container list, one probe each) and returns a lookup by object; an
// unreachable Docker makes every object "unknown" with the reason.
func (s *Syncer) Observed(ctx context.Context) func(kind, name string) map[string]any {
	sts, err := s.Statuses(ctx)
	return func(kind, name string) map[string]any {
		if err != nil && sts == nil {
			return map[string]any{"status": StatusUnknown, "reason": err.Error()}
		}
		if st, ok := sts[Object{kind, name}]; ok {
			return st.Map()
		}
		return nil
	}
}

// Endpoint is the URL this machine reaches a port published on hostIP at:
// 127.0.0.1 for a port published on 127.0.0.1 or on every IPv4 address
// (0.0.0.0, or "" as Docker says it), ::1 for every IPv6 address (::), and
// the address itself otherwise (a port published on one interface's
// address answers only there). The health probe and inference use it.
func Endpoint(hostIP string, port int) string {
	host := "127.0.0.1"
	if a, err := netip.ParseAddr(hostIP); err == nil {
		switch {
		case a == netip.IPv6Unspecified():
			host = "::1"
		case !a.IsUnspecified():
			host = a.String()
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// ports are the host ports of the object's endpoint, one per replica:
// w.Port, then those of w.More.
func (w Wanted) ports() []int {
	out := []int{w.Port}
	for _, d := range w.More {
		p := 0
		if len(d.Spec.Ports) > 0 {
			p = d.Spec.Ports[0].HostPort
		}
		out = append(out, p)
	}
	return out
}

// status derives everything but the health probe, for replica n (from 1)
// of w, whose endpoint is on port.
func (s *Syncer) status(w Wanted, n, port int, obs Observed, conflict string) Status {
	s.mu.Lock()
	f := s.failures[w.Object]
	busy := s.busy[w.Object]
	restarts := s.restarts[w.Object]
	s.mu.Unlock()
	st := Status{Restarts: restarts, Replica: n}
	if port > 0 {
		st.Endpoint = Endpoint(w.HostIP, port)
	}
	d := w.Desired
	if n > 1 {
		d = w.More[n-2]
	}
	c, found := obs.findReplica(w.Object, n)
	if s.Endpoint != nil {
		// The runtime's address of the container (Kubernetes: its
		// Service), once there is one; never this machine's port.
		st.Endpoint = ""
		if found && port > 0 {
			st.Endpoint = s.Endpoint(c, port)
		}
	}
	if found {
		st.Container = c.Name
		st.Since = c.Created
		if d != nil {
			st.Drift = !plan.Matches(d.Spec, c.Labels[container.LabelSpecHash]) || plan.Misplaced(d.Spec, c.Ports) != ""
		}
	}
	switch {
	case w.Elsewhere != "":
		st.Status, st.Reason = StatusElsewhere, w.Elsewhere
		if found {
			st.Reason += "; its container here is being removed"
		}
		return st
	case !w.Running:
		st.Status = StatusStopped
		if found {
			st.Reason = "stopping: the container is being removed"
		}
		return st
	case w.Err != nil:
		st.Status, st.Reason = StatusFailed, w.Err.Error()
		return st
	case busy != "":
		st.Status = busy
		return st
	case !found:
		if conflict != "" {
			st.Status, st.Reason = StatusFailed, "conflict: "+conflict
			return st
		}
		if f != nil {
			st.Status, st.Reason, st.Since = StatusFailed, f.reason, f.since
			return st
		}
		st.Status, st.Reason = StatusPending, "no container yet (the agent creates it; aima sync does it now)"
		return st
	}
	switch c.State {
	case container.StateRunning:
		if f != nil && f.attempts >= 3 {
			st.Status, st.Reason = StatusFailed, f.reason
			return st
		}
		// A runtime that runs the health check itself (Kubernetes'
		// readiness probe) says how it went; else the agent probes.
		switch c.Health {
		case container.HealthHealthy:
			st.Status, st.Health = StatusRunning, "ok"
		case container.HealthStarting:
			st.Status, st.Health = StatusStarting, "not ready"
		default:
			st.Status, st.Health = StatusStarting, "probing"
		}
	case container.StateCreated, container.StateRestarting:
		st.Status, st.Reason = StatusStarting, c.Reason
	case container.StateExited, container.StateDead:
		st.Status = StatusFailed
		st.Reason = fmt.Sprintf("container exited with code %d", c.ExitCode)
		if c.Reason != "" {
			st.Reason += " (" + c.Reason + ")"
		}
		if f != nil {
			st.Reason = f.reason + fmt.Sprintf(" (last exit code %d)", c.ExitCode)
		}
	default:
		st.Status = StatusStarting
		st.Reason = "container is " + string(c.State)
	}
	return st
}

// probe runs the engine's health check on the host port: healthy means
// running; failing within the engine's startup timeout means starting,
// after it unhealthy.
func (s *Syncer) probe(ctx context.Context, w Wanted, st Status) Status {
	path := w.Health.Path
	if w.Object.Kind == "app" || path == "" {
		st.Status, st.Health = StatusRunning, ""
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.Endpoint+path, nil)
	resp, err := probeClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			st.Status, st.Health = StatusRunning, "ok"
			if w.Ollama != "" {
				return s.ollamaReady(ctx, w, st)
			}
			return st
		}
		err = fmt.Errorf("%s answered %d", path, resp.StatusCode)
	}
	st.Health = "failing: " + err.Error()
	timeout := 5 * time.Minute
	if d, perr := time.ParseDuration(w.Health.Timeout); perr == nil {
		timeout = d
	}
	if time.Since(st.Since) > timeout {
		st.Status, st.Reason = StatusUnhealthy, fmt.Sprintf("health check failing for longer than its startup timeout (%s)", timeout)
	} else {
		st.Status = StatusStarting
	}
	return st
}

var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// Budgets reports every resource slot: its limit, what each admitted
// service draws from it, and which services it refused.
func (s *Syncer) Budgets(ctx context.Context) ([]SlotUsage, error) {
	wanted, err := Render(s.Store, s.Host, "")
	if err != nil {
		return nil, err
	}
	obs, err := observe(ctx, s.Runtime, s.Instance)
	if err != nil {
		return nil, err
	}
	return budget(s.Store, wanted, obs)
}
