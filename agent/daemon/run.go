// Package daemon is the wiring of `aima start`, the long-running agent: it
// repairs the state directory, serves the HTTP API (package api) with the
// units (package unit) and the inference routes, watches the files
// (package watch), runs the sync loop on the engine's Syncer, follows a
// remote branch, evaluates the alert rules and watches Docker's events
// until it is stopped. The CLI opens its store (OpenStore) and runs the
// units in process (UnitEnv) through the same wiring when no agent runs.
//
// It decides nothing about containers: every render, plan, pass and
// status is the engine's (package agent), which this package imports and
// which must never import it.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/alert"
	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/container"
	"github.com/aima-dev/aima/agent/event"
	"github.com/aima-dev/aima/agent/gateway"
	"github.com/aima-dev/aima/agent/mcp"
	"github.com/aima-dev/aima/agent/operator"
	"github.com/aima-dev/aima/agent/pipeline"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/agent/watch"
	"github.com/aima-dev/aima/agent/web"
	"github.com/aima-dev/aima/state"
)

// repairWait bounds how long Run retries the start-up repair: longer than
// state/repo's stale-lock age plus its lock wait.
const repairWait = 15 * time.Second

// AgentInfo is .aima/.local/agent.json: where a running agent listens.
type AgentInfo struct {
	PID     int       `json:"pid"`
	Addr    string    `json:"addr"`
	Started time.Time `json:"started"`
}

// ReadAgentInfo reads .local/agent.json of a state directory.
func ReadAgentInfo(dir string) (AgentInfo, bool) {
	var info AgentInfo
	b, err := os.ReadFile(filepath.Join(dir, ".local", "agent.json"))
	if err != nil || json.Unmarshal(b, &info) != nil {
		return info, false
	}
	return info, true
}

// Options configure Run.
type Options struct {
	Dir     string
	Addr    string // default: aima.yaml's api, else 127.0.0.1:9090
	Token   string
	Version string
	Log     *slog.Logger
	// Ready, when set, receives the listening address once the API serves.
	Ready func(addr string)
	// Follow is the remote branch to follow ("origin/main"; default: remote
	// in aima.yaml), fetched every FollowInterval (default 30s).
	Follow         string
	FollowInterval time.Duration
	// FollowOptions are the pull options of the follower: VerifySignatures
	// and AllowRewrite (aima start --verify-signatures, --allow-rewrite).
	FollowOptions state.PullOptions
}

// Run is `aima start`: it repairs the state directory, serves the API,
// watches the files and converges Docker until ctx ends. Containers keep
// running when it exits.
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	st, err := OpenStore(opts.Dir)
	if err != nil {
		return err
	}
	st.Author.Name = "aima-agent"
	// 1. The state directory: create it (and its git repository) if needed,
	//    then commit what a crash or an editor left uncommitted.
	if _, err := st.Init(); err != nil {
		return fmt.Errorf("state directory %s: %w", st.Dir, err)
	}
	problems := &problemSet{}
	sched := &pipeline.Scheduler{} // its Runner is set with the units below
	var mcpDoor *mcp.Server        // set with the units below, before the watcher runs
	trigger := make(chan struct{}, 1)
	kick := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	// The watcher watches before the repair and before the API is ready:
	// an edit made while the agent starts is committed (valid) or reported
	// (invalid), never missed; every change requests a pass.
	w, err := watch.New(st.Dir, watch.Options{
		OnChange: func(paths []string) {
			rec, err := st.Record(paths)
			if err != nil {
				log.Warn("record edits", "error", err)
			}
			if len(rec.Paths) > 0 {
				log.Info("committed edits", "paths", rec.Paths)
			}
			problems.set(paths, rec.Problems)
			for _, p := range rec.Problems {
				log.Warn("invalid file (not applied; the last committed version stays in effect)", "problem", p.String())
			}
			sched.Invalidate()
			mcpDoor.Changed() // the MCP clients' resource and prompt lists
			kick()
		},
		OnError: func(err error) { log.Warn("watch", "error", err) },
	})
	if err != nil {
		return fmt.Errorf("watch %s: %w", st.Dir, err)
	}
	defer w.Close()
	// A process killed in the middle of a commit leaves git's lock files
	// behind; state/repo takes them to be abandoned once they are old
	// enough, so the repair is retried until then instead of failing the
	// start.
	rec, err := st.Record(nil)
	for deadline := time.Now().Add(repairWait); err != nil && time.Now().Before(deadline) && ctx.Err() == nil; {
		log.Warn("repair: retrying", "error", err)
		time.Sleep(500 * time.Millisecond)
		rec, err = st.Record(nil)
	}
	if err != nil {
		return fmt.Errorf("repair %s: %w", st.Dir, err)
	}
	if len(rec.Paths) > 0 {
		log.Info("committed changes made while the agent was down", "paths", rec.Paths)
	}
	problems.set(nil, rec.Problems)
	for _, p := range rec.Problems {
		log.Warn("invalid file (not applied)", "problem", p.String())
	}
	if r, err := st.Repo(); err == nil {
		if err := r.ResetIndex(); err != nil {
			log.Warn("reset git index", "error", err)
		}
	}
	set, err := st.Settings()
	if err != nil {
		return err
	}
	local, err := st.LocalSettings()
	if err != nil {
		return err
	}
	if _, err := st.Policy(); err != nil {
		return fmt.Errorf("%w (fix it, or remove it for the defaults)", err)
	}
	addr := opts.Addr
	if addr == "" {
		addr = local.API
	}
	if addr == "" {
		addr = set.API
	}
	if err := api.CheckBind(addr, opts.Token); err != nil {
		return err
	}
	// The agent always has a token: the owner's, generated into
	// .local/token on the first start (the CLI reads it from there).
	ownerToken, err := api.EnsureToken(st.Dir)
	if err != nil {
		return err
	}
	// 2. Docker and the syncer. Docker may be down: the agent serves anyway
	//    and converges when it returns.
	agent.CachedHost(st.Dir, true) // the agent asks nvidia-smi and sysfs afresh; NewSyncer reads the answer
	syncer, rt, err := agent.NewSyncer(st, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	resync := 30 * time.Second
	if d, err := time.ParseDuration(set.Resync); err == nil && d > 0 {
		resync = d
	}
	// 3. The API.
	alerts := AlertEngine(st, syncer, kick)
	follower, err := newFollower(st, opts.Follow, set.Remote, opts.FollowInterval, opts.FollowOptions, log, kick)
	if err != nil {
		return err
	}
	// Every operation — CRUD, verbs, status, log, alerts — is a unit of the
	// registry, served as a route generated from it.
	uenv := UnitEnv(st, syncer, kick)
	services := unitServices{s: syncer, kick: kick}
	if follower != nil {
		services.beforeSync = func(ctx context.Context) { follower.Sync(ctx) }
	}
	uenv.Services = services
	uenv.Alerts = alertUnits{alerts}
	uenv.Problems = problems.get
	var served string // the listening address, set before the API serves
	uenv.Extra = func() map[string]any {
		m := follower.statusExtra()
		if m == nil {
			m = map[string]any{}
		}
		m["agent"] = "running on " + served
		return m
	}
	uenv.Version = opts.Version
	sched.Runner = uenv.Pipelines.(*pipeline.Runner)
	// The inference gateway: routes from a table this process keeps
	// current, never derived per request.
	gw := gateway.New(nil)
	gw.Explain = func(model string) error { return agent.NoRoute(st, model) }
	gw.Refresh = refreshFor(st, syncer)
	routesDue := make(chan struct{}, 1)
	// MCP over Streamable HTTP at /mcp: behind the same door (Host, Origin,
	// token); a write commits as the token's name, with the client's.
	mcpDoor = mcp.New(mcp.Options{Env: uenv, Version: opts.Version, Log: log.With("door", "mcp")})
	routes := gw.Handlers()
	routes["/mcp"] = mcpDoor.Handler()
	// The operator's chat streams (SSE), so it is a route beside the units;
	// its tools are the same registry calls, made for the token's name. A
	// model served by aima is reached through this agent's own gateway.
	op := operator.New(operator.Options{Env: uenv, Gateway: func() (string, string, bool) {
		return "http://" + served, ownerToken, served != ""
	}})
	uenv.Operator = op
	routes[operator.ChatRoute] = op.Handler()
	// The event stream (GET /api/events) the web page and aima status
	// --watch read: commits and statuses from the feed, passes from the
	// loop, alerts from the alert engine.
	events := &event.Broker{}
	feed := newFeed(events, syncer, uenv)
	routes["GET /api/events"] = events
	alerts.Notify = func(ev alert.Event) { events.Publish(event.Event{Type: event.Alert, Data: ev}) }
	srv := api.New(api.Options{
		Store:      st,
		Token:      opts.Token,
		OwnerToken: ownerToken,
		Door:       api.DoorFor(addr, local.AllowedHosts, local.CORSOrigins),
		Version:    opts.Version,
		Problems:   problems.get,
		Verbs:      unit.Verbs(uenv, unit.Default),
		Routes:     routes,
		// The web page: its files need no token; its sign-in link (aima
		// ui) makes a session cookie that signs in its own requests.
		Public:   map[string]http.Handler{"GET /ui/": web.Handler(), "GET /{$}": web.Root()},
		Sessions: &api.Sessions{},
	})
	if err := gw.Register(srv.Metrics().Registry); err != nil {
		return err
	}
	follower.register(srv.Metrics())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	served = ln.Addr().String()
	// ReadTimeout bounds how long a client may take to send its request
	// (net/http lifts it once the body is in, so long answers are not cut);
	// no WriteTimeout: chats and logs stream for as long as they take, and
	// a client that goes away cancels them.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	hs.RegisterOnShutdown(mcpDoor.Close) // an MCP client's open stream must not hold the shutdown
	// Where the agent listens, for `aima status` and `aima ui` (removed on
	// a clean exit; a stale one after kill -9 is harmless: status probes
	// the address). Written before serving, so that a client that got an
	// answer from the agent finds it.
	info, _ := json.Marshal(AgentInfo{PID: os.Getpid(), Addr: ln.Addr().String(), Started: time.Now().UTC()})
	infoPath := filepath.Join(st.Dir, ".local", "agent.json")
	_ = state.WriteFile(infoPath, info)
	defer os.Remove(infoPath)
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("aima agent started", "dir", st.Dir, "api", ln.Addr().String(), "instance", set.Instance,
		"web", "http://"+ln.Addr().String()+"/ui/ (aima ui prints a sign-in link)")
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(9)
	go func() { defer wg.Done(); feed.Run(loopCtx) }()
	go func() { defer wg.Done(); mcpDoor.Follow(loopCtx) }()
	go func() { defer wg.Done(); feedRoutes(loopCtx, syncer, gw, routesDue, log) }()
	go func() { defer wg.Done(); sched.Run(loopCtx) }()
	go func() { defer wg.Done(); follower.Run(loopCtx) }()
	go func() { defer wg.Done(); alerts.Run(loopCtx, alertEvery()) }()
	go func() { defer wg.Done(); _ = w.Run(loopCtx) }()
	go func() { defer wg.Done(); watchEvents(loopCtx, rt, set.Instance, kick, feed.poke, log) }()
	go func() {
		defer wg.Done()
		loop(loopCtx, syncer, trigger, resync, log, srv, func(res agent.Result, err error) {
			if len(res.Plan.Ops) > 0 { // containers changed: the routes may have
				select {
				case routesDue <- struct{}{}:
				default:
				}
			}
			events.Publish(event.Event{Type: event.Pass, Data: passData(res, err)})
			feed.poke()
		})
	}()
	kick()

	// 5. Until SIGTERM: then stop accepting, finish in-flight requests, and
	//    leave the containers running.
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopLoop()
		wg.Wait()
		return err
	}
	log.Info("shutting down: finishing in-flight requests; containers keep running")
	shCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(shCtx)
	stopLoop()
	wg.Wait()
	return err
}

// alertInterval is how often alert rules are evaluated; AIMA_ALERT_INTERVAL
// (a Go duration) changes it.
const alertInterval = 10 * time.Second

func alertEvery() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("AIMA_ALERT_INTERVAL")); err == nil && d > 0 {
		return d
	}
	return alertInterval
}

// loop runs a pass on every trigger, on a jittered periodic resync, and
// when a backing-off object is due. Passes never overlap; passed hears of
// each.
func loop(ctx context.Context, s *agent.Syncer, trigger <-chan struct{}, resync time.Duration, log *slog.Logger, srv *api.Server, passed func(agent.Result, error)) {
	timer := time.NewTimer(jitter(resync))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-trigger:
		case <-timer.C:
		}
		// Debounce a little more: API writes and file events often come in
		// bursts; one pass sees them all.
		res, err := s.Pass(ctx)
		passed(res, err)
		if m := srv.Metrics(); m != nil && m.SyncPasses != nil {
			m.SyncPasses.Inc()
			if (err != nil && ctx.Err() == nil) || len(res.Errors) > 0 {
				m.SyncErrors.Inc()
			}
		}
		switch {
		case errors.Is(err, container.ErrUnavailable):
			log.Warn("docker unreachable; will retry", "error", err)
		case err != nil && ctx.Err() == nil:
			log.Warn("sync pass", "error", err)
		case err == nil && !res.Plan.Empty():
			log.Debug("sync pass done", "ops", len(res.Plan.Ops), "errors", len(res.Errors))
		}
		next := jitter(resync)
		if err != nil {
			next = 2 * time.Second
		}
		if at, ok := s.NextRetry(); ok {
			if d := time.Until(at); d < next {
				next = max(d, 100*time.Millisecond)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d/5)+1))
}

// watchEvents requests a pass when one of our containers dies, is OOM-killed
// or is removed, and tells seen of every event of ours (a start is a
// status change too); it resubscribes (with backoff) when the stream breaks.
func watchEvents(ctx context.Context, rt container.Runtime, instance string, kick, seen func(), log *slog.Logger) {
	wait := time.Second
	for ctx.Err() == nil {
		evs, errs := rt.Events(ctx)
	recv:
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-evs:
				wait = time.Second
				ours := ev.Labels[container.LabelInstance] == instance
				// Ours changed; or another instance's container went, which
				// may free a name or port one of ours waits for (a service
				// moving between hosts of a fleet on one daemon).
				if ev.Type != container.EventStart && (ours || ev.Type == container.EventDestroy) {
					kick()
				}
				if !ours {
					continue
				}
				seen()
			case err := <-errs:
				if ctx.Err() == nil {
					log.Debug("docker events", "error", err)
				}
				break recv
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
		kick() // Docker may have come back: converge
	}
}

// problemSet is the invalid files the agent knows of, by path.
type problemSet struct {
	mu sync.Mutex
	m  map[string][]state.Problem
}

// set replaces the problems of paths (nil: of every path) with probs.
func (p *problemSet) set(paths []string, probs []state.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || paths == nil {
		p.m = map[string][]state.Problem{}
	}
	for _, path := range paths {
		delete(p.m, path)
	}
	for _, pr := range probs {
		p.m[pr.File] = append(p.m[pr.File], pr)
	}
}

func (p *problemSet) get() []state.Problem {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []state.Problem
	for _, ps := range p.m {
		out = append(out, ps...)
	}
	return out
}

// passData is what a pass event carries: the plan it carried out (as aima
// diff prints it) and what failed.
func passData(res agent.Result, err error) map[string]any {
	m := map[string]any{"ops": len(res.Plan.Ops), "plan": res.Plan.String()}
	if err != nil {
		m["error"] = err.Error()
	}
	if len(res.Errors) > 0 {
		errs := map[string]string{}
		for o, e := range res.Errors {
			errs[o.Kind+"/"+o.Name] = e.Error()
		}
		m["errors"] = errs
	}
	return m
}
