package daemon

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/aima-dev/aima/agent"
	"github.com/aima-dev/aima/agent/event"
	"github.com/aima-dev/aima/agent/unit"
)

// feed publishes what the agent notices to the event broker: the commits
// that landed (whoever made them: the API, the watcher, the follower, the
// alert engine) and the objects whose observed status changed. It looks
// after every sync pass and Docker event (see poke), and — only while
// someone listens — every second while an object is on its way somewhere
// (creating, starting) and every few seconds otherwise, since a health
// probe turning green is no event of Docker's.
type feed struct {
	b    *event.Broker
	s    *agent.Syncer
	env  *unit.Env
	due  chan struct{}
	head string
	last map[agent.Object]string // each object's status as last published (JSON)
}

func newFeed(b *event.Broker, s *agent.Syncer, env *unit.Env) *feed {
	return &feed{b: b, s: s, env: env, due: make(chan struct{}, 1)}
}

// poke asks the feed to look now.
func (f *feed) poke() {
	select {
	case f.due <- struct{}{}:
	default:
	}
}

// Idle and busy intervals of the feed's own look, while someone listens.
const (
	feedIdle = 5 * time.Second
	feedBusy = time.Second
)

func (f *feed) Run(ctx context.Context) {
	f.head = f.headRev()
	t := time.NewTimer(feedIdle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.due:
		case <-t.C:
		}
		next := feedIdle
		if f.look(ctx) {
			next = feedBusy
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// look publishes new commits and changed statuses; it reports whether an
// object is in a passing state (worth looking again soon).
func (f *feed) look(ctx context.Context) (busy bool) {
	if head := f.headRev(); head != f.head {
		f.commits(ctx, head)
	}
	if !f.b.Subscribed() {
		f.last = nil // a new listener reads the statuses itself
		return false
	}
	sts, err := f.s.Statuses(ctx)
	if err != nil && sts == nil {
		return false
	}
	seen := map[agent.Object]string{}
	for o, st := range sts {
		b, _ := json.Marshal(st)
		seen[o] = string(b)
		switch st.Status {
		case agent.StatusCreating, agent.StatusStarting, agent.StatusPending:
			busy = true
		}
		if f.last != nil && f.last[o] == string(b) {
			continue
		}
		m := st.Map()
		m["kind"], m["name"] = o.Kind, o.Name
		f.b.Publish(event.Event{Type: event.Status, Data: m})
	}
	for o := range f.last {
		if _, ok := seen[o]; !ok { // deleted: gone from the page
			f.b.Publish(event.Event{Type: event.Status, Data: map[string]any{"kind": o.Kind, "name": o.Name, "status": "deleted"}})
		}
	}
	f.last = seen
	return busy
}

// commits publishes the commits after f.head up to head, oldest first (at
// most the last 20 of a burst). The log is read a few commits at a time
// (1, 2, 4, ...) until it reaches f.head: each entry lists its changed
// files, which costs a walk of two trees, and the usual burst is one
// commit — reading twenty on every commit made every API write of a
// state of 10,000 objects four times slower.
func (f *feed) commits(ctx context.Context, head string) {
	prev := f.head
	f.head = head
	var items []map[string]any
	for n := 1; ; n *= 2 {
		doc, err := unit.Default.Call(ctx, f.env, "state.log", map[string]any{"n": min(n, 20)})
		if err != nil {
			return
		}
		items, _ = doc["items"].([]map[string]any)
		if n >= 20 || len(items) < n || slices.ContainsFunc(items, func(it map[string]any) bool { return it["hash"] == prev }) {
			break
		}
	}
	var fresh []map[string]any
	for _, it := range items {
		if it["hash"] == prev {
			break
		}
		fresh = append(fresh, it)
	}
	for i := len(fresh) - 1; i >= 0; i-- {
		f.b.Publish(event.Event{Type: event.Commit, Data: fresh[i]})
	}
}

// headRev is the commit the state directory is at ("" before the first).
func (f *feed) headRev() string {
	r, err := f.env.Store.Repo()
	if err != nil {
		return ""
	}
	rev, _ := r.Head()
	return rev
}
