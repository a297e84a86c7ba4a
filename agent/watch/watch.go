// Package watch reports which files of a state directory changed, so that the
// agent can request a sync pass.
//
// It owns the fsnotify watches on the state directory and its subdirectories,
// the editor/temp-file ignore rule, and debouncing. It must not read, parse or
// validate the files it reports, and it must not try to apply "the event":
// callers are level-triggered and re-read the whole state on every callback.
// A reported path may therefore already be gone, or be reported more than once.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for Options.
const (
	DefaultDebounce = 10 * time.Millisecond
	DefaultMaxWait  = time.Second
)

// Options configures a Watcher.
type Options struct {
	// Debounce is the quiet period after the last change before OnChange is
	// called. Zero means DefaultDebounce.
	Debounce time.Duration
	// MaxWait bounds how long a change can wait for OnChange under a steady
	// stream of events. Zero means DefaultMaxWait.
	MaxWait time.Duration
	// OnChange receives the sorted, de-duplicated, slash-separated paths
	// (relative to the state directory, e.g. "services/qwen.yaml") that
	// changed, were created or were deleted. It runs on Run's goroutine and
	// is never called concurrently with itself; while it runs, new events
	// wait in the kernel queue.
	OnChange func(paths []string)
	// OnError, if set, receives errors that do not stop the watcher: fsnotify
	// errors (including queue overflow, after which every known file is
	// reported) and failures to watch a new subdirectory. It runs on Run's
	// goroutine.
	OnError func(error)
}

// Watcher watches a state directory. Watching starts in New, so no change
// made after New returns is missed; Run delivers them.
type Watcher struct {
	dir  string // absolute, cleaned
	opts Options
	fsw  *fsnotify.Watcher

	// Source of events and errors; the fsnotify channels, replaceable in tests.
	events <-chan fsnotify.Event
	errs   <-chan error

	// dirs maps each watched directory (slash-separated, relative to dir;
	// "." is the root) to the names of the files it holds. A directory that
	// disappears reports its files from here: renaming it away sends no
	// per-file events.
	dirs map[string]map[string]struct{}
	// pending collects paths to report at the next flush; touched says the
	// last event added to it.
	pending map[string]struct{}
	touched bool
	// gone holds directories removed since the last flush: the kernel
	// reports their removal twice (from the parent and the directory
	// itself), and the second must not be taken for a file.
	gone map[string]struct{}

	started atomic.Bool
}

// New watches dir, the root of a state directory, and every subdirectory
// except ignored ones (.git, .local, editor directories). The caller must call
// Run or Close to release the watches.
func New(dir string, opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.MaxWait < opts.Debounce {
		opts.MaxWait = opts.Debounce
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch %s: not a directory", dir)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w := &Watcher{
		dir:     abs,
		opts:    opts,
		fsw:     fsw,
		events:  fsw.Events,
		errs:    fsw.Errors,
		dirs:    make(map[string]map[string]struct{}),
		pending: make(map[string]struct{}),
		gone:    make(map[string]struct{}),
	}
	if err := w.addDir("."); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	// The files present at start are the caller's initial state, not changes.
	clear(w.pending)
	return w, nil
}

// Close releases the watches. Run calls it on return; call it directly only
// when Run is never called.
func (w *Watcher) Close() error {
	return w.fsw.Close()
}

// Run delivers changes to OnChange until ctx ends, then closes the watcher
// and returns nil. Changes still waiting for their debounce are dropped.
// Errors from fsnotify do not stop it. Run may be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watch: Run called twice")
	}
	defer w.fsw.Close()

	// Stopped timers; their channels are selected only while armed (nil
	// otherwise). Since Go 1.23, Stop and Reset leave no stale tick behind.
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	deadline := time.NewTimer(time.Hour)
	deadline.Stop()
	var quietC, deadlineC <-chan time.Time

	flush := func() {
		quiet.Stop()
		deadline.Stop()
		quietC, deadlineC = nil, nil
		if len(w.pending) == 0 {
			return
		}
		paths := make([]string, 0, len(w.pending))
		for p := range w.pending {
			paths = append(paths, p)
		}
		clear(w.pending)
		clear(w.gone)
		slices.Sort(paths)
		if w.opts.OnChange != nil {
			w.opts.OnChange(paths)
		}
	}

	for {
		w.touched = false
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.events:
			if !ok {
				return w.closed(ctx)
			}
			w.handle(ev)
		case err, ok := <-w.errs:
			if !ok {
				return w.closed(ctx)
			}
			w.handleError(err)
		case <-quietC:
			flush()
			continue
		case <-deadlineC:
			flush()
			continue
		}
		// Only relevant changes restart the quiet period: churn under .git
		// or in temp files must not postpone a pass.
		if w.touched {
			quiet.Reset(w.opts.Debounce)
			quietC = quiet.C
			if deadlineC == nil {
				deadline.Reset(w.opts.MaxWait)
				deadlineC = deadline.C
			}
		}
	}
}

func (w *Watcher) closed(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("watch: closed")
}

// handle records the effect of one fsnotify event on the known files and the
// pending set.
func (w *Watcher) handle(ev fsnotify.Event) {
	rel, ok := w.rel(ev.Name)
	if !ok || (rel != "." && Ignored(rel)) {
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		_, isDir := w.dirs[rel]
		_, wasDir := w.gone[rel]
		switch {
		case isDir:
			w.removeDir(rel)
		case wasDir:
			// Its files were reported when the first removal came.
		default:
			if files, ok := w.dirs[path.Dir(rel)]; ok {
				delete(files, path.Base(rel))
			}
			w.report(rel)
		}
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
		fi, err := os.Lstat(ev.Name)
		switch {
		case err == nil && fi.IsDir():
			if ev.Has(fsnotify.Create) {
				if err := w.addDir(rel); err != nil {
					w.error(fmt.Errorf("watch %s: %w", rel, err))
				}
			}
		case err == nil:
			if files, ok := w.dirs[path.Dir(rel)]; ok {
				files[path.Base(rel)] = struct{}{}
			}
			w.report(rel)
		default:
			// Already gone again: report it anyway, the caller re-reads.
			if files, ok := w.dirs[path.Dir(rel)]; ok {
				delete(files, path.Base(rel))
			}
			w.report(rel)
		}
	}
	// Chmod alone changes no content and is ignored.
}

// handleError keeps the watcher running. After a queue overflow events were
// lost, so everything is rescanned and every file, present or gone, reported.
func (w *Watcher) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		for dir, files := range w.dirs {
			for name := range files {
				w.report(path.Join(dir, name))
			}
		}
		// Missed creations of directories are picked up by the rescan;
		// watches of directories that are gone were dropped by the kernel.
		clear(w.dirs)
		if rerr := w.addDir("."); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rescan: %w", rerr))
		}
	}
	w.error(fmt.Errorf("watch %s: %w", w.dir, err))
}

func (w *Watcher) error(err error) {
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}

// addDir watches rel and, recursively, its subdirectories, and reports the
// files found. The watch is added before the directory is read, so a file
// created in between is seen by the scan, by an event, or by both.
func (w *Watcher) addDir(rel string) error {
	abs := w.abs(rel)
	if err := w.fsw.Add(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed again before we got to it
		}
		return err
	}
	files, ok := w.dirs[rel]
	if !ok {
		files = make(map[string]struct{})
		w.dirs[rel] = files
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		if Ignored(e.Name()) {
			continue
		}
		child := path.Join(rel, e.Name())
		if e.IsDir() {
			errs = append(errs, w.addDir(child))
			continue
		}
		files[e.Name()] = struct{}{}
		w.report(child)
	}
	return errors.Join(errs...)
}

// removeDir forgets rel and its subdirectories and reports the files they
// held, which are deleted objects now.
func (w *Watcher) removeDir(rel string) {
	for dir, files := range w.dirs {
		if dir != rel && rel != "." && !strings.HasPrefix(dir, rel+"/") {
			continue
		}
		for name := range files {
			w.report(path.Join(dir, name))
		}
		delete(w.dirs, dir)
		w.gone[dir] = struct{}{}
		// The kernel drops the watch of a deleted directory, and fsnotify
		// that of a moved one, but not those of subdirectories of a moved one.
		_ = w.fsw.Remove(w.abs(dir))
	}
}

func (w *Watcher) report(rel string) {
	w.pending[rel] = struct{}{}
	w.touched = true
}

func (w *Watcher) abs(rel string) string {
	return filepath.Join(w.dir, filepath.FromSlash(rel))
}

// rel returns name relative to the state directory, slash-separated.
func (w *Watcher) rel(name string) (string, bool) {
	r, err := filepath.Rel(w.dir, name)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// Ignored reports whether a change to name must not trigger a pass. name is a
// base name or a slash-separated path relative to the state directory; a path
// is ignored when any of its elements is: names starting with '.' (.git,
// .local, aima's own ".<name>.tmp-XXXX" atomic writes, vim swap files, emacs
// locks), ending in '~', ".swp", ".swx", ".swo" or ".tmp", vim's write probe
// "4913" (and its successors, all digits), and emacs auto-saves "#name#".
func Ignored(name string) bool {
	name = path.Clean(filepath.ToSlash(name))
	for elem := range strings.SplitSeq(name, "/") {
		if ignoredElem(elem) {
			return true
		}
	}
	return false
}

func ignoredElem(name string) bool {
	switch {
	case name == "":
		return false
	case name[0] == '.',
		strings.HasSuffix(name, "~"),
		strings.HasSuffix(name, ".swp"),
		strings.HasSuffix(name, ".swx"),
		strings.HasSuffix(name, ".swo"),
		strings.HasSuffix(name, ".tmp"),
		len(name) >= 2 && name[0] == '#' && name[len(name)-1] == '#':
		return true
	}
	// Vim probes whether it may write a directory with a file named 4913,
	// then 5036, ... (adding 123). Object files always have an extension.
	return strings.Trim(name, "0123456789") == ""
}
