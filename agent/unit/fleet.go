package unit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aima-dev/aima/state"
)

// A fleet is the machines that follow one repository, each a host
// (hosts/<name>.yaml, with the URL of its agent): fleet.status asks every
// host's agent for its status, at once and briefly — a host that is down
// is reported, never waited for — and fleet.diff says which hosts lag this
// state directory's HEAD.

// fleetTimeout bounds each host's answer.
const fleetTimeout = 3 * time.Second

// FleetHost is one host as the fleet view sees it.
type FleetHost struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Reachable: its agent answered.
	Reachable bool `json:"reachable"`
	// Error is why it could not be asked (no URL, no token, refused, ...).
	Error string `json:"error,omitempty"`
	// Revision is the commit its agent applies: the remote revision it
	// last applied when it follows, else its HEAD.
	Revision string `json:"revision,omitempty"`
	// InSync: Revision is this state directory's HEAD.
	InSync bool `json:"in_sync"`
	// Services and apps running there (or meant to): those placed on it.
	Objects []FleetObject `json:"objects"`
	// LastError is its follower's last error (a refused pull, say).
	LastError string `json:"last_error,omitempty"`
}

// FleetObject is a service or app on a host, with its status there.
type FleetObject struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// FleetAnswer is fleet.status and fleet.diff.
type FleetAnswer struct {
	Items []FleetHost `json:"items"`
	Total int         `json:"total"`
	// Head is this state directory's HEAD, which in_sync compares with.
	Head string `json:"head"`
}

func addFleet(r *Registry) {
	r.Add(Typed(Unit{Name: "fleet.status", Read: true, Description: "Ask every host's agent (hosts/, tokens from .local/fleet.yaml) for its revision and the status of what is placed on it; a host that is down is reported, not waited for"},
		func(ctx context.Context, env *Env, _ struct{}) (FleetAnswer, error) { return askFleet(ctx, env) }))
	r.Add(Typed(Unit{Name: "fleet.diff", Read: true, Description: "Which hosts lag this state directory's HEAD (or cannot be asked)"},
		func(ctx context.Context, env *Env, _ struct{}) (FleetAnswer, error) {
			a, err := askFleet(ctx, env)
			for i := range a.Items {
				a.Items[i].Objects = nil
			}
			return a, err
		}))
}

// askFleet asks every host at once.
func askFleet(ctx context.Context, env *Env) (FleetAnswer, error) {
	entries, err := env.Store.List(state.KindHost)
	if err != nil {
		return FleetAnswer{}, err
	}
	tokens, err := env.Store.FleetTokens()
	if err != nil {
		return FleetAnswer{}, err
	}
	out := FleetAnswer{Items: make([]FleetHost, 0, len(entries))}
	if rp, err := env.Store.Repo(); err == nil {
		out.Head, _ = rp.Head()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, e := range entries {
		h, ok := e.Object.(*state.Host)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := tokens[h.Name]
			if token == "" {
				token = tokens["*"]
			}
			fh := askHost(ctx, h, token)
			fh.InSync = fh.Reachable && fh.Revision != "" && fh.Revision == out.Head
			mu.Lock()
			out.Items = append(out.Items, fh)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].Name < out.Items[j].Name })
	out.Total = len(out.Items)
	return out, nil
}

var fleetClient = &http.Client{Timeout: fleetTimeout}

// askHost asks one host's agent for GET /api/status.
func askHost(ctx context.Context, h *state.Host, token string) FleetHost {
	fh := FleetHost{Name: h.Name, URL: h.URL, Objects: []FleetObject{}}
	if h.URL == "" {
		fh.Error = fmt.Sprintf("hosts/%s.yaml has no url", h.Name)
		return fh
	}
	if token == "" {
		fh.Error = fmt.Sprintf("no token for %s in %s (tokens: {%s: TOKEN} or {\"*\": TOKEN})", h.Name, state.FleetPath, h.Name)
		return fh
	}
	ctx, cancel := context.WithTimeout(ctx, fleetTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(h.URL, "/")+"/api/status", nil)
	if err != nil {
		fh.Error = err.Error()
		return fh
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := fleetClient.Do(req)
	if err != nil {
		fh.Error = err.Error()
		return fh
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		fh.Error = fmt.Sprintf("answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
		return fh
	}
	var st struct {
		Host       string `json:"host"`
		LastCommit *struct {
			Hash string `json:"hash"`
		} `json:"last_commit"`
		Follow *struct {
			Applied   string `json:"applied_revision"`
			LastError string `json:"last_error"`
		} `json:"follow"`
		Items []struct {
			Kind, Name, Status, Reason string
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		fh.Error = "its answer is not a status: " + err.Error()
		return fh
	}
	fh.Reachable = true
	if st.Host != "" && st.Host != h.Name {
		fh.Error = fmt.Sprintf("the agent at %s says it is host %q", h.URL, st.Host)
	}
	switch {
	case st.Follow != nil && st.Follow.Applied != "":
		fh.Revision, fh.LastError = st.Follow.Applied, st.Follow.LastError
	case st.LastCommit != nil:
		fh.Revision = st.LastCommit.Hash
	}
	for _, it := range st.Items {
		if (it.Kind == "service" || it.Kind == "app") && it.Status != "" && it.Status != "elsewhere" {
			fh.Objects = append(fh.Objects, FleetObject{Kind: it.Kind, Name: it.Name, Status: it.Status, Reason: it.Reason})
		}
	}
	return fh
}
