package event

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServeHTTP: a subscriber reads hello, then every event published
// after it, as server-sent events.
func TestServeHTTP(t *testing.T) {
	b := &Broker{}
	ts := httptest.NewServer(b)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	read := func() string { // one event: its lines up to the blank one
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (after %q)", err, lines)
			}
			if l == "\n" {
				return strings.Join(lines, "")
			}
			lines = append(lines, l)
		}
	}
	if got := read(); !strings.HasPrefix(got, "event: hello\n") {
		t.Fatalf("first event %q, want hello", got)
	}
	b.Publish(Event{Type: Commit, Data: map[string]string{"hash": "abc"}})
	if got, want := read(), "event: commit\ndata: {\"hash\":\"abc\"}\n"; got != want {
		t.Fatalf("event %q, want %q", got, want)
	}
}

// TestSlowSubscriberDropped: a subscriber that reads nothing is dropped
// (its channel closed) rather than blocking the publisher.
func TestSlowSubscriberDropped(t *testing.T) {
	b := &Broker{}
	ch, cancel := b.Subscribe()
	defer cancel()
	for range buffer + 1 {
		b.Publish(Event{Type: Pass})
	}
	n := 0
	for range ch {
		n++
	}
	if n != buffer {
		t.Fatalf("read %d events before the close, want %d", n, buffer)
	}
	if b.Subscribed() {
		t.Fatal("the dropped subscriber still counts")
	}
}
