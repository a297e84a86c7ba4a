package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/go-cmp/cmp"
)

// waitTimeout bounds every wait for a callback; callbacks normally arrive
// within Debounce (or MaxWait), so this only matters when a test fails.
const waitTimeout = 5 * time.Second

// newStateDir makes a state directory with a few objects, a .git and a .local.
func newStateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{".git/objects", ".local", "models", "services"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"aima.yaml", ".gitignore", ".git/HEAD", ".local/lock", "models/m.yaml", "services/x.yaml"} {
		writeFile(t, dir, f)
	}
	return dir
}

func writeFile(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start runs a watcher on dir and returns the channel its callbacks go to.
// before, if not nil, runs between New and Run.
func start(t *testing.T, dir string, opts Options, before func(*Watcher)) <-chan []string {
	t.Helper()
	calls := make(chan []string, 1000)
	opts.OnChange = func(paths []string) { calls <- paths }
	w, err := New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return calls
}

// collect receives callbacks until together they report every path in want,
// and returns them.
func collect(t *testing.T, calls <-chan []string, want ...string) [][]string {
	t.Helper()
	var got [][]string
	seen := map[string]bool{}
	timeout := time.After(waitTimeout)
	for {
		missing := 0
		for _, p := range want {
			if !seen[p] {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		select {
		case paths := <-calls:
			got = append(got, paths)
			for _, p := range paths {
				seen[p] = true
			}
		case <-timeout:
			t.Fatalf("%d of %d paths not reported after %v; callbacks: %q", missing, len(want), waitTimeout, got)
		}
	}
}

// union returns the sorted set of paths in calls.
func union(calls [][]string) []string {
	var all []string
	for _, c := range calls {
		all = append(all, c...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func TestWriteIsReported(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	writeFile(t, dir, "services/new.yaml")

	got := collect(t, calls, "services/new.yaml")
	if diff := cmp.Diff([][]string{{"services/new.yaml"}}, got); diff != "" {
		t.Errorf("callbacks (-want +got):\n%s", diff)
	}
}

func TestEditorSaveReportsOnlyTheTarget(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	// vim: swap file, write probe, backup by rename, new file, drop backup.
	writeFile(t, dir, "services/.x.yaml.swp")
	writeFile(t, dir, "services/4913")
	rm(t, dir, "services/4913")
	mv(t, dir, "services/x.yaml", "services/x.yaml~")
	writeFile(t, dir, "services/x.yaml")
	rm(t, dir, "services/x.yaml~")
	rm(t, dir, "services/.x.yaml.swp")
	// aima / most editors: temp file renamed over the target.
	writeFile(t, dir, "services/.x.yaml.tmp-1234")
	mv(t, dir, "services/.x.yaml.tmp-1234", "services/x.yaml")
	// emacs auto-save.
	writeFile(t, dir, "services/#x.yaml#")

	got := collect(t, calls, "services/x.yaml")
	if diff := cmp.Diff([]string{"services/x.yaml"}, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}
}

func TestBurstIsCoalesced(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{}, nil) // default debounce

	var want []string
	for i := range 100 {
		p := fmt.Sprintf("services/s%03d.yaml", i)
		writeFile(t, dir, p)
		want = append(want, p)
	}

	got := collect(t, calls, want...)
	if len(got) > 3 {
		t.Errorf("100 writes gave %d callbacks, want at most 3", len(got))
	}
	if diff := cmp.Diff(want, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}
}

func TestNewSubdirectoryIsWatched(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	// The file may well exist before the watcher has added the directory:
	// it must be found by the scan after adding.
	if err := os.MkdirAll(filepath.Join(dir, "pipelines/nested"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "pipelines/p.yaml")
	writeFile(t, dir, "pipelines/nested/n.yaml")
	collect(t, calls, "pipelines/p.yaml", "pipelines/nested/n.yaml")

	// And the directory is watched from then on.
	writeFile(t, dir, "pipelines/q.yaml")
	collect(t, calls, "pipelines/q.yaml")
}

func TestDeleteIsReported(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	rm(t, dir, "services/x.yaml")

	got := collect(t, calls, "services/x.yaml")
	if diff := cmp.Diff([]string{"services/x.yaml"}, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}
}

func TestRemovedDirectoryReportsItsFiles(t *testing.T) {
	dir := newStateDir(t)
	writeFile(t, dir, "services/y.yaml")
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	if err := os.RemoveAll(filepath.Join(dir, "services")); err != nil {
		t.Fatal(err)
	}

	got := collect(t, calls, "services/x.yaml", "services/y.yaml")
	if diff := cmp.Diff([]string{"services/x.yaml", "services/y.yaml"}, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}
}

// Moving a directory out of the state directory sends no per-file events:
// its files are reported from what the watcher knew.
func TestMovedAwayDirectoryReportsItsFiles(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	elsewhere := filepath.Join(t.TempDir(), "models")
	if err := os.Rename(filepath.Join(dir, "models"), elsewhere); err != nil {
		t.Fatal(err)
	}
	got := collect(t, calls, "models/m.yaml")
	if diff := cmp.Diff([]string{"models/m.yaml"}, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}

	// The moved directory is no longer watched. Events are delivered in
	// order, so anything it caused would arrive before the marker.
	writeFile(t, elsewhere, "m2.yaml")
	writeFile(t, dir, "aima.yaml")
	got = collect(t, calls, "aima.yaml")
	if diff := cmp.Diff([]string{"aima.yaml"}, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}
}

// Temp, swap and git files alone trigger nothing. Rather than waiting for a
// callback that must not come, a real change follows them: events arrive in
// order, so a callback for the temp files would come first or carry them.
func TestIgnoredFilesAloneTriggerNothing(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{Debounce: 50 * time.Millisecond}, nil)

	for _, p := range []string{
		"services/.x.yaml.swp", "services/.x.yaml.swx", "services/x.yaml~",
		"services/4913", "services/x.tmp", "services/#x.yaml#", "services/.aima.tmp-99",
		".git/index", ".local/lock", ".aima.yaml.tmp-1",
	} {
		writeFile(t, dir, p)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git/refs/heads"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".git/refs/heads/main")
	rm(t, dir, "services/.x.yaml.swp")

	writeFile(t, dir, "models/marker.yaml")
	select {
	case got := <-calls:
		if diff := cmp.Diff([]string{"models/marker.yaml"}, got); diff != "" {
			t.Errorf("first callback (-want +got):\n%s", diff)
		}
	case <-time.After(waitTimeout):
		t.Fatal("marker not reported")
	}
}

// Under a steady stream of writes the quiet period never comes; MaxWait
// still delivers.
func TestSteadyStreamIsDeliveredWithinMaxWait(t *testing.T) {
	dir := newStateDir(t)
	calls := start(t, dir, Options{}, nil) // default debounce and max wait

	stop := make(chan struct{})
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		end := time.After(2 * time.Second)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-end:
				return
			case <-tick.C:
				_ = os.WriteFile(filepath.Join(dir, "services/s.yaml"), fmt.Appendf(nil, "n: %d\n", i), 0o644)
			}
		}
	}()
	defer func() { close(stop); <-streamDone }()

	select {
	case got := <-calls:
		if diff := cmp.Diff([]string{"services/s.yaml"}, got); diff != "" {
			t.Errorf("callback (-want +got):\n%s", diff)
		}
	case <-streamDone:
		t.Fatal("no callback while the stream lasted (2s)")
	}
}

// After an overflow events were lost; every known file is reported, and the
// watcher keeps running.
func TestOverflowReportsEverything(t *testing.T) {
	dir := newStateDir(t)
	errs := make(chan error)
	gotErr := make(chan error, 10)
	calls := start(t, dir, Options{
		Debounce: 50 * time.Millisecond,
		OnError:  func(err error) { gotErr <- err },
	}, func(w *Watcher) { w.errs = errs })

	errs <- fsnotify.ErrEventOverflow
	want := []string{"aima.yaml", "models/m.yaml", "services/x.yaml"}
	got := collect(t, calls, want...)
	if diff := cmp.Diff(want, union(got)); diff != "" {
		t.Errorf("reported paths (-want +got):\n%s", diff)
	}
	select {
	case err := <-gotErr:
		if !errors.Is(err, fsnotify.ErrEventOverflow) {
			t.Errorf("OnError got %v, want overflow", err)
		}
	default:
		t.Error("OnError not called")
	}

	writeFile(t, dir, "services/after.yaml")
	collect(t, calls, "services/after.yaml")
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		"aima.yaml":                    false,
		"services/qwen.yaml":           false,
		"skills/summarise.md":          false,
		"services":                     false,
		"models/llama-3.1.yaml":        false,
		".gitignore":                   true,
		".git/HEAD":                    true,
		".local/runs/1.json":           true,
		"services/.qwen.yaml.tmp-1234": true,
		"services/.qwen.yaml.swp":      true,
		"services/qwen.yaml.swp":       true,
		"services/qwen.yaml.swx":       true,
		"services/qwen.yaml~":          true,
		"services/qwen.tmp":            true,
		"services/4913":                true,
		"services/5036":                true,
		"services/#qwen.yaml#":         true,
		"services/.#qwen.yaml":         true,
	} {
		if got := Ignored(name); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", name, got, want)
		}
	}
}

func rm(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
}

func mv(t *testing.T, dir, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, filepath.FromSlash(from)), filepath.Join(dir, filepath.FromSlash(to))); err != nil {
		t.Fatal(err)
	}
}
