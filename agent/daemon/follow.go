package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// DefaultFollowInterval is how often a follower fetches when not told.
const DefaultFollowInterval = 30 * time.Second

// followTimeout bounds one fetch and apply, so an unreachable remote never
// holds a POST /api/sync for long.
const followTimeout = 60 * time.Second

// FollowState is what the follower last did. The agent keeps it in
// .local/follow.json (for aima status) and serves it in GET /api/status.
type FollowState struct {
	Source   string `json:"source"` // remote/branch
	Interval string `json:"interval"`
	// What incoming history is trusted (aima start --verify-signatures,
	// --allow-rewrite).
	VerifySignatures bool `json:"verify_signatures,omitempty"`
	AllowRewrite     bool `json:"allow_rewrite,omitempty"`
	// Applied is the remote revision last applied (or found already
	// included); Head is the local HEAD that resulted.
	Applied   string    `json:"applied_revision,omitempty"`
	Head      string    `json:"head,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// The last attempt: when, what the remote was at, how it ended.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	Fetched     string    `json:"fetched_revision,omitempty"`
	LastOutcome string    `json:"last_outcome,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// ReadFollowState reads .local/follow.json of a state directory.
func ReadFollowState(dir string) (FollowState, bool) {
	var fs FollowState
	b, err := os.ReadFile(filepath.Join(dir, ".local", "follow.json"))
	if err != nil || json.Unmarshal(b, &fs) != nil {
		return fs, false
	}
	return fs, true
}

// Follower keeps the state directory on a remote branch: it fetches every
// interval (jittered) and on request, and applies valid revisions with the
// same rules and options as aima pull (state.Store.Pull with its
// PullOptions: signatures, rewritten history). A refused revision or
// an unreachable remote is reported and retried; the state stays on its
// last good revision and the agent keeps running. Applied files are seen by
// the watcher like any edit, and the sync loop converges the containers.
type Follower struct {
	st       *state.Store
	remote   string
	branch   string
	interval time.Duration
	opts     state.PullOptions
	log      *slog.Logger
	kick     func()

	run sync.Mutex // one attempt at a time

	mu    sync.Mutex
	state FollowState

	attempts *prometheus.CounterVec
	applied  prometheus.Gauge
	failing  prometheus.Gauge
}

// ParseFollow splits "origin/main" into remote and branch (the branch may
// hold slashes).
func ParseFollow(spec string) (remote, branch string, err error) {
	remote, branch, ok := strings.Cut(spec, "/")
	if !ok || remote == "" || branch == "" {
		return "", "", fmt.Errorf("%w: follow %q: want REMOTE/BRANCH, for example origin/main", state.ErrInvalid, spec)
	}
	return remote, branch, nil
}

// newFollower returns the follower for spec (or, when empty, the remote
// setting of aima.yaml); nil when there is nothing to follow. opts are
// those of aima pull (Resolve is not used: a follower never settles a
// conflict by itself). With opts.VerifySignatures and no trusted key it is
// an error, so the agent does not start following what it cannot verify.
func newFollower(st *state.Store, spec, setting string, interval time.Duration, opts state.PullOptions, log *slog.Logger, kick func()) (*Follower, error) {
	if spec == "" {
		spec = setting
	}
	if spec == "" {
		if opts.VerifySignatures || opts.AllowRewrite {
			return nil, fmt.Errorf("%w: --verify-signatures and --allow-rewrite apply to a followed branch: add --follow REMOTE/BRANCH (or remote in aima.yaml)", state.ErrInvalid)
		}
		return nil, nil
	}
	remote, branch, err := ParseFollow(spec)
	if err != nil {
		return nil, err
	}
	opts.Resolve = ""
	if opts.VerifySignatures {
		if _, _, err := st.TrustedKeyRing(); err != nil {
			return nil, fmt.Errorf("follow %s: %w", spec, err)
		}
	}
	if interval <= 0 {
		interval = DefaultFollowInterval
	}
	f := &Follower{
		st:       st.As(repo.Signature{Name: "aima-agent", Email: st.Author.Email}),
		remote:   remote,
		branch:   branch,
		interval: interval,
		opts:     opts,
		log:      log,
		kick:     kick,
		state: FollowState{Source: remote + "/" + branch, Interval: interval.String(),
			VerifySignatures: opts.VerifySignatures, AllowRewrite: opts.AllowRewrite},
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aima", Subsystem: "follow", Name: "attempts_total",
			Help: "Fetch-and-apply attempts of the followed remote branch, by outcome (applied, up_to_date, refused, conflict, unavailable, error).",
		}, []string{"outcome"}),
		applied: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "aima", Subsystem: "follow", Name: "last_applied_timestamp_seconds",
			Help: "When a revision of the followed branch was last applied or found up to date (Unix time).",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "aima", Subsystem: "follow", Name: "failing",
			Help: "1 when the last attempt to follow the remote failed (see aima status), else 0.",
		}),
	}
	if old, ok := ReadFollowState(st.Dir); ok && old.Source == f.state.Source {
		f.state.Applied, f.state.Head, f.state.AppliedAt = old.Applied, old.Head, old.AppliedAt
	}
	return f, nil
}

// register adds the follower's metrics to the API's registry.
func (f *Follower) register(m *api.Metrics) {
	if f == nil || m == nil || m.Registry == nil {
		return
	}
	m.Registry.MustRegister(f.attempts, f.applied, f.failing)
}

// State returns what the follower last did.
func (f *Follower) State() FollowState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// statusExtra is the follower's part of GET /api/status.
func (f *Follower) statusExtra() map[string]any {
	if f == nil {
		return nil
	}
	return map[string]any{"follow": f.State()}
}

// Run follows until ctx ends: one attempt now, then one per jittered interval.
func (f *Follower) Run(ctx context.Context) {
	if f == nil {
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		f.Sync(ctx)
		timer.Reset(jitter(f.interval))
	}
}

// Sync makes one attempt: fetch the branch and apply it if it is valid.
func (f *Follower) Sync(ctx context.Context) FollowState {
	f.run.Lock()
	defer f.run.Unlock()
	ctx, cancel := context.WithTimeout(ctx, followTimeout)
	defer cancel()
	res, err := f.st.Pull(ctx, f.remote, f.branch, f.opts)
	now := time.Now().UTC()

	f.mu.Lock()
	prevErr := f.state.LastError
	s := &f.state
	s.LastAttempt, s.LastError = now, ""
	if res.Incoming != "" {
		s.Fetched = res.Incoming
	}
	outcome := "error"
	switch {
	case err == nil:
		s.Applied, s.Head, s.AppliedAt = res.Incoming, res.Head, now
		s.LastOutcome = res.Outcome
		outcome = "up_to_date"
		if res.Outcome == state.PullFastForward || res.Outcome == state.PullMerge {
			outcome = "applied"
		}
	case errors.Is(err, state.ErrConflict):
		outcome = "conflict"
	case errors.Is(err, state.ErrInvalid):
		outcome = "refused"
	case errors.Is(err, state.ErrUnavailable), errors.Is(err, state.ErrNotFound):
		outcome = "unavailable"
	}
	if err != nil {
		s.LastOutcome, s.LastError = outcome, err.Error()
	}
	snap := *s
	f.mu.Unlock()

	f.attempts.WithLabelValues(outcome).Inc()
	if err != nil {
		f.failing.Set(1)
		if snap.LastError != prevErr { // once per new error, not every interval
			f.log.Warn("follow: not applied; the state stays on its last good revision", "source", snap.Source, "error", err)
		}
	} else {
		f.failing.Set(0)
		f.applied.Set(float64(now.Unix()))
		if outcome == "applied" {
			f.log.Info("follow: applied", "source", snap.Source, "revision", res.Incoming, "outcome", res.Outcome, "paths", res.Paths)
			if f.kick != nil {
				f.kick()
			}
		} else if prevErr != "" {
			f.log.Info("follow: back in step", "source", snap.Source, "revision", res.Incoming)
		}
	}
	if b, err := json.Marshal(snap); err == nil {
		_ = state.WriteFile(filepath.Join(f.st.Dir, ".local", "follow.json"), b)
	}
	return snap
}
