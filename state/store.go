package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/aima-dev/aima/state/repo"
)

// Sources of an object, as list output shows them.
const (
	SourceFile    = "file"
	SourceBuiltin = "builtin"
)

// Entry is one object as loaded, with where it came from.
type Entry struct {
	Kind     *Kind
	Object   Object
	Source   string // SourceFile or SourceBuiltin
	Revision string // git blob hash of the content; stale revisions are refused on update
	// Problem is set when the file on disk is invalid and Object is the last
	// committed valid version still in effect (or nil when there is none).
	Problem *InvalidError
}

// Store is a state directory: the files, the git repository behind them and
// the lock that serialises writers across processes. Every write is an atomic
// file write plus one commit, under the lock.
type Store struct {
	Dir    string
	Author repo.Signature
	// OnBehalf, when set, is added to commit messages as an
	// "On-behalf-of:" trailer: who a token holder said the write is for.
	OnBehalf string
	// Trailers are more "Key: value" lines added after OnBehalf's (the
	// MCP client a write came through: "MCP-Client: claude-code 1.0").
	Trailers []string
	// PortHeld, when set, reports whether a host port is held (for example by
	// a container that Docker knows of); port allocation skips such ports.
	PortHeld func(port int) bool
	// UnitExists, when set, reports whether a unit of that name exists:
	// Decode (so every write, and every load) refuses a pipeline step
	// naming another. The registry of units lives above state, so whoever
	// opens the store for a door sets it (daemon.OpenStore); without it step
	// units are checked only by their pattern.
	UnitExists func(name string) bool
	// InUse, when set, is asked before an object's file is deleted; an
	// error (wrapping ErrConflict) refuses the delete. daemon.OpenStore sets
	// it to keep a pipeline that has an active run.
	InUse func(dir string, k *Kind, name string) error

	*core
}

// core is what every view of a store (see As) shares.
type core struct {
	mu    sync.Mutex  // serialises writers within this process; lock does it across processes
	batch []batchItem // objects of the Apply in progress, under mu
	lock  *flock.Flock
	repo  *repo.Repo
	// policy caches .local/policy.yaml until the file changes.
	policy policyCache
}

// As returns a view of the store whose writes are committed by author. It
// shares the lock and repository with s, so it is safe to use concurrently
// with s (the API makes one per request).
func (s *Store) As(author repo.Signature) *Store {
	v := *s
	v.Author = author
	return &v
}

type authorKey struct{}

// WithAuthor returns ctx carrying the author of the writes made for it
// (an API request's X-Aima-Author), for For.
func WithAuthor(ctx context.Context, author repo.Signature) context.Context {
	return context.WithValue(ctx, authorKey{}, author)
}

type onBehalfKey struct{}

// WithOnBehalf returns ctx carrying an On-behalf-of trailer for the
// commits made for it (X-Aima-Author sent with a named token).
func WithOnBehalf(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, onBehalfKey{}, who)
}

type trailerKey struct{}

// WithTrailer returns ctx carrying one more "key: value" trailer for the
// commits made for it (line breaks in value become spaces).
func WithTrailer(ctx context.Context, key, value string) context.Context {
	prev, _ := ctx.Value(trailerKey{}).([]string)
	t := key + ": " + strings.Join(strings.Fields(value), " ")
	return context.WithValue(ctx, trailerKey{}, append(slices.Clip(prev), t))
}

// For is the view of s whose commits carry the author ctx was given by
// WithAuthor (and the trailers of WithOnBehalf and WithTrailer), or s
// itself when it carries none. Work started by a request (a unit call, a
// service start, a pipeline run) commits as its author.
func (s *Store) For(ctx context.Context) *Store {
	v := s
	view := func() {
		if v == s {
			c := *s
			v = &c
		}
	}
	if a, ok := ctx.Value(authorKey{}).(repo.Signature); ok && a.Name != "" {
		v = s.As(a)
	}
	if who, ok := ctx.Value(onBehalfKey{}).(string); ok && who != "" {
		view()
		v.OnBehalf = who
	}
	if ts, ok := ctx.Value(trailerKey{}).([]string); ok && len(ts) > 0 {
		view()
		v.Trailers = ts
	}
	return v
}

// Open returns the store for dir. It does not create anything: reading a
// missing directory shows only the built-in objects, and the first write
// initialises it (as `aima init` does).
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{Dir: abs, Author: repo.Signature{Name: "aima", Email: "aima@localhost"}, core: &core{}}
	s.lock = flock.New(filepath.Join(abs, ".local", "lock"))
	return s, nil
}

// Initialized reports whether the state directory exists with its settings.
func (s *Store) Initialized() bool {
	_, err1 := os.Stat(filepath.Join(s.Dir, "aima.yaml"))
	_, err2 := os.Stat(filepath.Join(s.Dir, ".git"))
	return err1 == nil && err2 == nil
}

// Init creates the state directory, its git repository, aima.yaml (with a
// random instance id) and .gitignore, in one commit. It is a no-op on an
// initialised directory and returns created=false.
func (s *Store) Init() (created bool, err error) {
	if err := ensureDir(s.Dir); err != nil {
		return false, err
	}
	if err := s.lockAll(); err != nil {
		return false, err
	}
	defer s.unlockAll()
	created, err = s.initLocked()
	if err == nil {
		err = s.writeDefaultPolicy()
	}
	if err == nil {
		err = s.WriteSchemas() // those of this binary, after an upgrade too
	}
	return created, err
}

// writeDefaultPolicy writes the commented default policy into
// .local/policy.yaml when there is none, so the owner finds the rules
// where they are changed. An existing policy is never touched.
func (s *Store) writeDefaultPolicy() error {
	path := s.path(PolicyPath)
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return WriteFile(path, []byte(DefaultPolicyFile))
}

func (s *Store) initLocked() (bool, error) {
	if s.Initialized() {
		return false, nil
	}
	if err := s.repoMissing(); err != nil {
		return false, err // before anything is written
	}
	// A directory may hold files but no repository yet (the demo state, a
	// copied directory): keep its aima.yaml and commit what is there.
	var files []repo.Change
	if _, err := os.Stat(s.path(".gitignore")); err != nil {
		files = append(files, repo.Change{Path: ".gitignore", Data: []byte("# aima: local state (locks, runs, history, secrets) is never committed\n.local/\n")})
	}
	if _, err := os.Stat(s.path("aima.yaml")); err != nil {
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		set := Settings{Format: 1, Instance: "aima-" + hex.EncodeToString(rnd[:]), API: "127.0.0.1:9090", Resync: "30s", PortRange: "8000-8999"}
		sb, err := encodeSettings(set)
		if err != nil {
			return false, err
		}
		files = append(files, repo.Change{Path: "aima.yaml", Data: sb})
	}
	for _, c := range files {
		if err := WriteFile(s.path(c.Path), c.Data); err != nil {
			return false, err
		}
	}
	r, err := s.gitRepo()
	if err != nil {
		return false, err
	}
	if _, err := r.Head(); err == nil {
		return false, nil
	}
	// Commit everything valid that is already there.
	all := []string{".gitignore", "aima.yaml"}
	for _, p := range s.allObjectPaths(nil) {
		if _, _, ok := KindOfPath(p); ok {
			all = append(all, p)
		}
	}
	var changes []repo.Change
	for _, rel := range dedupe(all) {
		b, err := s.readObject(rel) // links are never read or committed
		if err != nil {
			if rel == "aima.yaml" && errors.Is(err, ErrInvalid) {
				return false, err
			}
			continue
		}
		if k, _, ok := KindOfPath(rel); ok {
			if _, err := s.Decode(k, rel, b); err != nil {
				continue // reported by status and validate; never committed
			}
		} else if rel == "aima.yaml" {
			if _, err := decodeSettings(b); err != nil {
				return false, err
			}
		}
		changes = append(changes, repo.Change{Path: rel, Data: b})
	}
	if _, err := s.commit(changes, "init: state directory"); err != nil {
		return false, err
	}
	// The files written from now on point editors at them.
	if err := s.WriteSchemas(); err != nil {
		return false, err
	}
	return true, nil
}

// Settings reads aima.yaml, with defaults filled in.
func (s *Store) Settings() (Settings, error) {
	set := Settings{Format: 1, API: "127.0.0.1:9090", Resync: "30s", PortRange: "8000-8999"}
	b, err := os.ReadFile(filepath.Join(s.Dir, "aima.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, err
	}
	got, err := decodeSettings(b)
	if err != nil {
		return set, err
	}
	if got.API == "" {
		got.API = set.API
	}
	if got.Resync == "" {
		got.Resync = set.Resync
	}
	if got.PortRange == "" {
		got.PortRange = set.PortRange
	}
	if id := s.localInstance(); id != "" {
		got.Instance = id // this machine's own (see remote.go)
	}
	return got, nil
}

func (s *Store) path(rel string) string { return filepath.Join(s.Dir, filepath.FromSlash(rel)) }

// Get returns the named object: its file, or the built-in of that name.
func (s *Store) Get(k *Kind, name string) (Entry, error) {
	if err := CheckName("name", name); err != nil {
		return Entry{}, err
	}
	e, err := s.loadFile(k, name)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Entry{}, err
	}
	if b, ok := Builtin(k, name); ok {
		return b, nil
	}
	return Entry{}, fmt.Errorf("%s %q: %w", k.Name, name, ErrNotFound)
}

// loadFile loads one object file. An invalid file yields an Entry with
// Problem set and the last committed valid version (if any) as Object.
func (s *Store) loadFile(k *Kind, name string) (Entry, error) {
	rel := k.Path(name)
	b, err := s.readObject(rel) // a link, or a file over the limit, is invalid and never read
	var o Object
	if err == nil {
		o, err = s.Decode(k, rel, b)
	}
	if err != nil {
		var ie *InvalidError
		if !errors.As(err, &ie) {
			return Entry{}, err
		}
		return s.invalidEntry(k, rel, ie)
	}
	return Entry{Kind: k, Object: o, Source: SourceFile, Revision: repo.BlobHash(b)}, nil
}

// invalidEntry keeps the last committed valid version of rel in effect.
func (s *Store) invalidEntry(k *Kind, rel string, ie *InvalidError) (Entry, error) {
	e := Entry{Kind: k, Source: SourceFile, Problem: ie}
	if r, err := s.gitRepo(); err == nil {
		if b, err := r.Read("", rel); err == nil {
			if o, err := s.Decode(k, rel, b); err == nil {
				e.Object, e.Revision = o, repo.BlobHash(b)
			}
		}
	}
	return e, nil
}

// List returns every object of the kind, sorted by name: files, plus the
// built-ins that no file overrides. Invalid files are returned as entries
// with Problem set; they never prevent the others from loading.
func (s *Store) List(k *Kind) ([]Entry, error) {
	names, err := s.names(k)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		e, err := s.loadFile(k, n)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if e.Object == nil {
			e.Object = k.New()
			e.Object.setName(n)
		}
		seen[n] = true
		out = append(out, e)
	}
	for _, b := range Builtins(k) {
		if !seen[b.Object.ObjectName()] {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Object.ObjectName() < out[j].Object.ObjectName() })
	return out, nil
}

// names lists the object names that have files of kind k. Files whose names
// are not valid object names are skipped here and reported by Problems.
func (s *Store) names(k *Kind) ([]string, error) {
	if err := dirProblem(s.path(k.Dir), k.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		// A link (or a file) in place of the kind directory is never
		// followed: the committed objects stay in effect, each reported.
		return s.committedNames(k), nil
	}
	des, err := os.ReadDir(s.path(k.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range des {
		n := de.Name()
		if de.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, k.Ext) {
			continue
		}
		if stem := strings.TrimSuffix(n, k.Ext); ValidName(stem) {
			out = append(out, stem)
		}
	}
	return out, nil
}

// Exists reports whether the named object has a file or is built in.
func (s *Store) Exists(k *Kind, name string) bool {
	if _, err := os.Lstat(s.path(k.Path(name))); err == nil {
		return true
	}
	_, ok := Builtin(k, name)
	return ok
}

// Create writes a new object and commits it. It fails with ErrExists when an
// object of that name exists (a file, or a built-in), and writes nothing.
func (s *Store) Create(k *Kind, o Object) (Entry, error) {
	var out Entry
	err := s.write(func() ([]repo.Change, string, error) {
		name := o.ObjectName()
		if err := CheckName("name", name); err != nil {
			return nil, "", err
		}
		if s.Exists(k, name) {
			return nil, "", fmt.Errorf("%s %q: %w (use update to change it)", k.Name, name, ErrExists)
		}
		if err := s.prepare(k, o); err != nil {
			return nil, "", err
		}
		c, e, err := s.encode(k, o)
		if err != nil {
			return nil, "", err
		}
		out = e
		return []repo.Change{c}, fmt.Sprintf("%s create: %s", k.Name, name), nil
	})
	return out, err
}

// Update changes an existing object (a file, or a built-in, which then gets
// an override file). When rev is not empty it must equal the object's
// current Revision, else ErrConflict: a concurrent change is never silently
// overwritten. mutate receives a copy of the current object.
func (s *Store) Update(k *Kind, name, rev string, mutate func(Object) (Object, error)) (Entry, error) {
	return s.UpdateMessage(k, name, rev, fmt.Sprintf("%s update: %s", k.Name, name), mutate)
}

// UpdateMessage is Update with a chosen commit message ("service stop: x").
func (s *Store) UpdateMessage(k *Kind, name, rev, msg string, mutate func(Object) (Object, error)) (Entry, error) {
	var out Entry
	err := s.write(func() ([]repo.Change, string, error) {
		cur, err := s.Get(k, name)
		if err != nil {
			return nil, "", err
		}
		if cur.Problem != nil {
			// The file holds an edit that is not valid (and so not
			// committed): writing over it would lose it silently.
			return nil, "", fmt.Errorf("%s %q: %w: %s has uncommitted changes that are not valid; fix or revert the file first (%v)", k.Name, name, ErrConflict, k.Path(name), cur.Problem)
		}
		if rev != "" && rev != cur.Revision {
			return nil, "", fmt.Errorf("%s %q: %w: revision %s is not the current one (%s); reload and retry", k.Name, name, ErrConflict, rev, cur.Revision)
		}
		copyObj, err := clone(k, cur.Object)
		if err != nil {
			return nil, "", err
		}
		next, err := mutate(copyObj)
		if err != nil {
			return nil, "", err
		}
		if next.ObjectName() != name {
			return nil, "", FieldError("name", "an object cannot be renamed (%q to %q); create the new one and delete the old", name, next.ObjectName())
		}
		if err := s.prepare(k, next); err != nil {
			return nil, "", err
		}
		c, e, err := s.encode(k, next)
		if err != nil {
			return nil, "", err
		}
		out = e
		return []repo.Change{c}, msg, nil
	})
	return out, err
}

// Delete removes an object's file and commits. Deleting an override of a
// built-in brings the built-in back; a built-in itself cannot be deleted.
func (s *Store) Delete(k *Kind, name, rev string) error {
	return s.write(func() ([]repo.Change, string, error) {
		if err := CheckName("name", name); err != nil {
			return nil, "", err
		}
		rel := k.Path(name)
		if err := s.parentProblem(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err // never through a linked directory
		}
		b, err := s.readObject(rel)
		var ie *InvalidError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if _, ok := Builtin(k, name); ok {
				return nil, "", fmt.Errorf("%w: %s %q is built in and cannot be deleted", ErrInvalid, k.Name, name)
			}
			return nil, "", fmt.Errorf("%s %q: %w", k.Name, name, ErrNotFound)
		case errors.As(err, &ie):
			// A link or an oversized file can be deleted (only its
			// directory entry goes), but has no revision to match.
			if rev != "" {
				return nil, "", fmt.Errorf("%s %q: %w: revision %s is not the current one (%v)", k.Name, name, ErrConflict, rev, ie)
			}
		case err != nil:
			return nil, "", err
		}
		if rev != "" && rev != repo.BlobHash(b) {
			return nil, "", fmt.Errorf("%s %q: %w: revision %s is not the current one", k.Name, name, ErrConflict, rev)
		}
		if err := s.checkUnused(k, name); err != nil {
			return nil, "", err
		}
		return []repo.Change{{Path: rel, Delete: true}}, fmt.Sprintf("%s delete: %s", k.Name, name), nil
	})
}

// Apply creates or replaces several objects in one commit (aima apply -f,
// catalog apply). Every object is validated before anything is written.
func (s *Store) Apply(objs []Object, kinds []*Kind, msg string) ([]Entry, error) {
	var out []Entry
	err := s.write(func() ([]repo.Change, string, error) {
		var changes []repo.Change
		s.batch = nil
		for i, o := range objs {
			s.batch = append(s.batch, batchItem{kinds[i], o})
		}
		defer func() { s.batch = nil }()
		for i, o := range objs {
			if err := CheckName("name", o.ObjectName()); err != nil {
				return nil, "", err
			}
			if err := s.prepare(kinds[i], o); err != nil {
				return nil, "", err
			}
			c, e, err := s.encode(kinds[i], o)
			if err != nil {
				return nil, "", err
			}
			changes = append(changes, c)
			out = append(out, e)
		}
		return changes, msg, nil
	})
	return out, err
}

// encode renders o, checks that the result loads back, and returns the
// change to write. Nothing is written here.
func (s *Store) encode(k *Kind, o Object) (repo.Change, Entry, error) {
	rel := k.Path(o.ObjectName())
	b, err := k.Encode(o)
	if err != nil {
		return repo.Change{}, Entry{}, err
	}
	back, err := s.Decode(k, rel, b)
	if err != nil {
		return repo.Change{}, Entry{}, err
	}
	return repo.Change{Path: rel, Data: b}, Entry{Kind: k, Object: back, Source: SourceFile, Revision: repo.BlobHash(b)}, nil
}

// write runs plan under the lock, writes the files it returns atomically and
// commits them as one commit.
func (s *Store) write(plan func() ([]repo.Change, string, error)) error {
	return s.commitPlan(plan, true)
}

// commitPlan is write; writeFiles=false commits files already on disk as they are.
func (s *Store) commitPlan(plan func() ([]repo.Change, string, error), writeFiles bool) (err error) {
	if err := ensureDir(s.Dir); err != nil {
		return err
	}
	if err := s.lockAll(); err != nil {
		return err
	}
	defer s.unlockAll()
	if _, err := s.initLocked(); err != nil {
		return fmt.Errorf("initialise %s: %w", s.Dir, err)
	}
	changes, msg, err := plan()
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	if !writeFiles {
		_, err = s.commit(changes, msg)
		if errors.Is(err, repo.ErrNoChange) {
			return nil
		}
		return err
	}
	// Write (or remove) the files, keeping what was there, so that a
	// failed commit puts them back: a write is either committed or undone,
	// even on a full disk (see writeUndo).
	committed := false
	u, err := s.applyFiles(changes)
	defer func() {
		if !committed {
			if uerr := u.undo(); uerr != nil {
				err = errors.Join(err, fmt.Errorf("undo the write: %w", uerr))
			}
		}
	}()
	if err != nil {
		return err
	}
	h, err := s.commit(changes, msg)
	if err == nil || errors.Is(err, repo.ErrNoChange) || h != "" {
		// Committed (h with an error: the branch moved but git's index
		// could not be updated; the index is rewritten at the next start,
		// and the write is acknowledged as the commit it is).
		committed = true
		u.done()
		return nil
	}
	return err
}

// applyFiles writes (or removes) the files of changes, never through a
// linked kind directory, keeping what was there: the caller undoes it when
// its commit fails, or calls done. Every write of the work tree — a door's
// write, a pull — goes through it.
func (s *Store) applyFiles(changes []repo.Change) (*writeUndo, error) {
	u := &writeUndo{}
	for _, c := range changes {
		if err := s.parentProblem(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return u, err
		}
	}
	for _, c := range changes {
		abs := s.path(c.Path)
		if err := u.keep(abs); err != nil {
			return u, err
		}
		if c.Delete {
			if err := RemoveFile(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return u, err
			}
			continue
		}
		if err := WriteFile(abs, c.Data); err != nil {
			return u, err
		}
	}
	return u, nil
}

func (s *Store) commit(changes []repo.Change, msg string) (string, error) {
	r, err := s.gitRepo()
	if err != nil {
		return "", err
	}
	msg = s.withTrailers(msg)
	// The error names the commit ("commit \"model update: x\": ..."); h
	// is set with an error when the commit was made but git's index could
	// not be updated.
	return r.Commit(changes, msg, s.Author, time.Now())
}

// withTrailers is msg with the store's trailers (On-behalf-of, then
// Trailers) as its last paragraph.
func (s *Store) withTrailers(msg string) string {
	var trailers []string
	if s.OnBehalf != "" {
		trailers = append(trailers, "On-behalf-of: "+s.OnBehalf)
	}
	if trailers = append(trailers, s.Trailers...); len(trailers) > 0 {
		msg += "\n\n" + strings.Join(trailers, "\n")
	}
	return msg
}

// Repo returns the git repository of the state directory, initialising git
// when the directory has none.
func (s *Store) Repo() (*repo.Repo, error) { return s.gitRepo() }

func (s *Store) gitRepo() (*repo.Repo, error) {
	// A .git that disappeared is never replaced by a new one (see
	// RepoMarkerPath), also not under a store that had it open.
	if err := s.repoMissing(); err != nil {
		return nil, err
	}
	if s.repo != nil {
		return s.repo, nil
	}
	r, err := repo.Open(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("open git repository in %s: %w", s.Dir, err)
	}
	s.markRepository()
	s.repo = r
	return r, nil
}

func (s *Store) lockAll() error {
	s.mu.Lock()
	if err := os.MkdirAll(filepath.Join(s.Dir, ".local"), 0o755); err != nil {
		s.mu.Unlock()
		return err
	}
	if err := s.lock.Lock(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("lock %s: %w", s.lock.Path(), err)
	}
	return nil
}

func (s *Store) unlockAll() {
	_ = s.lock.Unlock()
	s.mu.Unlock()
}

// clone deep-copies an object through its file encoding.
func clone(k *Kind, o Object) (Object, error) {
	b, err := k.Encode(o)
	if err != nil {
		return nil, err
	}
	return k.Decode("", b)
}

// Map renders the entry as the API and `-o json` show it: the object's
// fields plus id (= name), and source and revision.
func (e Entry) Map() map[string]any {
	m := map[string]any{}
	if e.Object != nil {
		b, _ := json.Marshal(e.Object)
		_ = json.Unmarshal(b, &m)
		m["id"] = e.Object.ObjectName()
	}
	if e.Kind != nil && e.Kind.HasBuiltins() {
		m["source"] = e.Source
	}
	// A skill or alert rule without enabled is enabled (the file need not
	// say so): shown, so that a list tells which ones are off.
	if _, ok := m["enabled"]; !ok && e.Object != nil && (e.Kind == KindSkill || e.Kind == KindAlert) {
		m["enabled"] = true
	}
	if e.Revision != "" {
		m["revision"] = e.Revision
	}
	if e.Problem != nil {
		m["problems"] = e.Problem.Problems
	}
	return m
}

// ToMap renders an object as a generic map of its fields.
func ToMap(o Object) map[string]any {
	m := map[string]any{}
	b, _ := json.Marshal(o)
	_ = json.Unmarshal(b, &m)
	return m
}
