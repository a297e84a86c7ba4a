package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStatusWatch: aima status --watch prints what the agent's event
// stream says as it happens — a commit made by another client, the status
// change of the service it stopped, the alert that fires — from the same
// stream as the page.
func TestStatusWatch(t *testing.T) {
	e := stubAgent(t, "w", "AIMA_ALERT_INTERVAL=200ms")
	e.mustAima("alert", "create", "--name", "w-down", "--condition", `service_down("w")`, "--action", "log")

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	watch := e.command(ctx, "status", "--watch")
	out := &lockedBuffer{}
	watch.Stdout, watch.Stderr = out, out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = watch.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, 30*time.Second, "status --watch to begin watching", func() (bool, string) {
		return strings.Contains(out.String(), "Watching the agent"), out.String()
	})

	e.mustAima("service", "stop", "w")
	for _, want := range []string{"commit ", "service stop: w", "service/w  stopped", "alert w-down firing"} {
		waitUntil(t, 30*time.Second, "status --watch to print "+want, func() (bool, string) {
			return strings.Contains(out.String(), want), out.String()
		})
	}
}
