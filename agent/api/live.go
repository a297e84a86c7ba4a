package api

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aima-dev/aima/agent/device"
	"github.com/aima-dev/aima/state"
)

// Device and GPU are what device detection finds (package device).
type (
	Device = device.Device
	GPU    = device.GPU
)

// detectDevice is device.Detect: no GPU is a normal answer, never an error.
var detectDevice = device.Detect

func (s *Server) deviceDetect(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, s.detect(r.Context()))
}

// deviceList answers the machine as a one-item list, so device answers
// list like every other domain.
func (s *Server) deviceList(w http.ResponseWriter, r *http.Request) {
	d := s.detect(r.Context())
	item := map[string]any{"id": "local", "name": "local"}
	for k, v := range toGeneric(d) {
		item[k] = v
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": []any{item}, "total": 1})
}

func toGeneric(v any) map[string]any {
	m, err := genericJSON(v)
	if err != nil {
		return map[string]any{}
	}
	return m
}

// inferenceList lists the models that have a service: the targets of
// inference requests, with the services that serve them.
func (s *Server) inferenceList(w http.ResponseWriter, r *http.Request) {
	services, err := s.st.List(state.KindService)
	if err != nil {
		WriteError(w, fmt.Errorf("list services: %w", err))
		return
	}
	obs := s.observed(r.Context())
	byModel := map[string][]map[string]any{}
	for _, e := range services {
		svc, ok := e.Object.(*state.Service)
		if !ok || svc.Model == "" {
			continue
		}
		it := map[string]any{"name": svc.Name, "engine": svc.Engine, "port": svc.Port}
		addMissing(it, obs(state.KindService.Name, svc.Name))
		byModel[svc.Model] = append(byModel[svc.Model], it)
	}
	models := make([]string, 0, len(byModel))
	for m := range byModel {
		models = append(models, m)
	}
	sort.Strings(models)
	items := make([]map[string]any, 0, len(models))
	for _, m := range models {
		items = append(items, map[string]any{"id": m, "name": m, "model": m, "services": byModel[m]})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// remoteList lists the git remotes of the state repository, passwords in
// their URLs redacted.
func (s *Server) remoteList(w http.ResponseWriter, r *http.Request) {
	items := []map[string]any{}
	remotes, err := s.st.Remotes()
	if err != nil {
		WriteError(w, err)
		return
	}
	for _, rm := range remotes {
		items = append(items, map[string]any{"id": rm.Name, "name": rm.Name, "url": rm.URL, "urls": []string{rm.URL}})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

func (s *Server) agentList(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]any{"items": []any{}, "total": 0,
		"note": "the operator chat is not configured"})
}

// status answers the state of every object: counts per kind, the objects
// with their observed state and problems, the invalid files and the last
// commit. It is both /api/status and /api/status/list.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	obs := s.observed(r.Context())
	counts := map[string]int{}
	items := []map[string]any{}
	var found []state.Problem
	for _, k := range state.Kinds {
		entries, err := s.st.List(k)
		if err != nil {
			WriteError(w, fmt.Errorf("list %s: %w", k.Name, err))
			return
		}
		counts[k.Name] = len(entries)
		for _, e := range entries {
			it := map[string]any{"kind": k.Name, "id": e.Object.ObjectName(), "name": e.Object.ObjectName(), "source": e.Source}
			if e.Problem != nil {
				it["problems"] = e.Problem.Problems
				found = append(found, e.Problem.Problems...)
			}
			addMissing(it, obs(k.Name, e.Object.ObjectName()))
			items = append(items, it)
		}
	}
	probs := found
	if s.opts.Problems != nil {
		probs = s.opts.Problems()
	}
	if probs == nil {
		probs = []state.Problem{}
	}
	doc := map[string]any{
		"dir":      s.st.Dir,
		"kinds":    counts,
		"items":    items,
		"total":    len(items),
		"problems": probs,
		"invalid":  invalidFiles(probs),
	}
	if s.opts.Version != "" {
		doc["version"] = s.opts.Version
	}
	if s.opts.Extra != nil {
		for k, v := range s.opts.Extra() {
			if _, taken := doc[k]; !taken {
				doc[k] = v
			}
		}
	}
	if rp, err := s.st.Repo(); err == nil {
		if log, err := rp.Log("", 1); err == nil && len(log) > 0 {
			doc["last_commit"] = log[0]
		}
	}
	WriteJSON(w, http.StatusOK, doc)
}

// invalidFiles counts the distinct files among problems.
func invalidFiles(probs []state.Problem) int {
	files := map[string]bool{}
	for _, p := range probs {
		files[p.File] = true
	}
	return len(files)
}

// log answers the git history: ?path= a state-directory path
// ("services/x.yaml", "services/") or KIND/NAME ("service/x"); ?n= at most
// that many commits (default 20, 0 = all).
func (s *Server) log(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n := 20
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			WriteError(w, errorf(http.StatusBadRequest, "bad_request", "n=%q: want a number of commits (0 = all)", v))
			return
		}
	}
	path, err := logPath(q.Get("path"))
	if err != nil {
		WriteError(w, err)
		return
	}
	rp, err := s.st.Repo()
	if err != nil {
		WriteError(w, err)
		return
	}
	entries, err := rp.Log(path, n)
	if err != nil {
		WriteError(w, fmt.Errorf("log %s: %w", path, err))
		return
	}
	items := make([]map[string]any, 0, len(entries))
	for _, c := range entries {
		items = append(items, map[string]any{"id": c.Hash, "hash": c.Hash, "author": c.Author, "email": c.Email,
			"when": c.When, "message": c.Message, "files": c.Files})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// logPath accepts a state-directory path or KIND/NAME (as `aima log` does).
func logPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	clean := filepath.ToSlash(filepath.Clean(p))
	if strings.HasPrefix(clean, "../") || clean == ".." || strings.HasPrefix(clean, "/") {
		return "", invalidField("/path", "path %q is outside the state directory", p)
	}
	dir, name, _ := strings.Cut(clean, "/")
	k, err := state.LookupKind(dir)
	if err != nil || strings.Contains(name, "/") {
		return clean, nil // aima.yaml, .gitignore, ...
	}
	switch {
	case name == "":
		return k.Dir + "/", nil
	case strings.HasSuffix(name, k.Ext) || !state.ValidName(name):
		return k.Dir + "/" + name, nil
	}
	return k.Path(name), nil
}
