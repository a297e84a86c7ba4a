// Package event is the agent's one stream of what happens: an object's
// observed status changes, a commit lands, a sync pass ends, an alert fires
// or resolves. Whoever learns of it publishes to a Broker; GET /api/events
// serves the broker as server-sent events to the web page and to
// `aima status --watch`.
//
// The broker holds no history and never blocks a publisher: a subscriber
// that falls behind is dropped (its stream ends) and reconnects, reading
// the current state afresh, as an EventSource does by itself.
package event

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Types of events.
const (
	Status = "status" // an object's observed status changed
	Commit = "commit" // a commit landed in the state directory
	Pass   = "pass"   // a sync pass ended
	Alert  = "alert"  // an alert rule started or stopped firing
)

// Event is one thing that happened: its type and what it carries.
type Event struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// buffer is how many events a subscriber may fall behind before it is
// dropped.
const buffer = 256

// Broker fans events out to subscribers. The zero value is ready to use.
type Broker struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// Publish sends ev to every subscriber without waiting for any.
func (b *Broker) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default: // too far behind: drop it; its stream ends, it reconnects
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Subscribed reports whether anyone listens (status changes are derived
// only then).
func (b *Broker) Subscribed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs) > 0
}

// Subscribe returns a channel of the events published from now on, and a
// function that ends the subscription. The channel is closed when the
// subscriber is dropped or cancelled.
func (b *Broker) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[chan Event]struct{}{}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// keepAlive is how often an idle stream gets a comment line, so proxies
// and clients see it is alive.
const keepAlive = 15 * time.Second

// ServeHTTP streams events as text/event-stream: "event: <type>" and
// "data: <json>" per event, beginning with a "hello" event once the
// subscription is in place (a client reads the current state after it, so
// nothing falls between the two).
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch, cancel := b.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(ev Event) error {
		data, err := json.Marshal(ev.Data)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write(Event{Type: "hello", Data: map[string]any{"at": time.Now().UTC()}}) != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case ev, ok := <-ch:
			if !ok || write(ev) != nil {
				return
			}
		}
	}
}
