package api

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aima-dev/aima/state"
)

// Metrics are the server's Prometheus metrics (namespace "aima"). The agent
// counts its sync passes on SyncPasses and SyncErrors; everything else is
// maintained by the server.
type Metrics struct {
	Registry *prometheus.Registry
	// Requests counts requests by route pattern and status code.
	Requests *prometheus.CounterVec
	// Errors counts answers with a status of 400 or more, by route and code.
	Errors *prometheus.CounterVec
	// Duration observes request durations by route pattern.
	Duration *prometheus.HistogramVec
	// SyncPasses counts the sync loop's passes (incremented by the agent).
	SyncPasses prometheus.Counter
	// SyncErrors counts the passes that failed (agent): the pass itself
	// (Docker unreachable, the files unreadable) or one of its operations.
	SyncErrors prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aima", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aima", Subsystem: "http", Name: "request_errors_total",
			Help: "HTTP requests answered with a status of 400 or more, by route pattern and status code.",
		}, []string{"route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "aima", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request durations by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		SyncPasses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "aima", Subsystem: "sync", Name: "passes_total",
			Help: "Passes of the sync loop (observe, plan, execute).",
		}),
		SyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "aima", Subsystem: "sync", Name: "errors_total",
			Help: "Passes of the sync loop that failed: the pass itself (Docker unreachable, say) or one of its operations (a create, a start).",
		}),
	}
	reg.MustRegister(m.Requests, m.Errors, m.Duration, m.SyncPasses, m.SyncErrors, &stateCollector{s: s})
	return m
}

func (m *Metrics) observe(route string, code int, d time.Duration) {
	c := strconv.Itoa(code)
	m.Requests.WithLabelValues(route, c).Inc()
	if code >= 400 {
		m.Errors.WithLabelValues(route, c).Inc()
	}
	m.Duration.WithLabelValues(route).Observe(d.Seconds())
}

// stateCollector computes the object and invalid-file gauges at scrape time
// from the state directory, so they are right whoever changed the files
// (API, CLI, an editor, git pull).
type stateCollector struct{ s *Server }

var (
	objectsDesc = prometheus.NewDesc("aima_objects", "Objects in the state directory by kind and source (file or builtin).", []string{"kind", "source"}, nil)
	invalidDesc = prometheus.NewDesc("aima_invalid_files", "Object files that fail validation (their last committed version stays in effect).", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- objectsDesc
	ch <- invalidDesc
}

// Collect counts object files by reading directory entries only (no file
// is parsed), so a scrape stays cheap with many objects. Invalid files come
// from Options.Problems when set, else from a full listing.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.st
	for _, k := range state.Kinds {
		files := map[string]bool{}
		des, _ := os.ReadDir(filepath.Join(st.Dir, k.Dir))
		for _, de := range des {
			n := de.Name()
			stem, ok := strings.CutSuffix(n, k.Ext)
			if de.IsDir() || !ok || !state.ValidName(stem) {
				continue
			}
			files[stem] = true
		}
		builtin := 0
		for _, b := range state.Builtins(k) {
			if !files[b.Object.ObjectName()] {
				builtin++
			}
		}
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(len(files)), k.Name, state.SourceFile)
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(builtin), k.Name, state.SourceBuiltin)
	}
	var probs []state.Problem
	if c.s.opts.Problems != nil {
		probs = c.s.opts.Problems()
	} else {
		for _, k := range state.Kinds {
			entries, err := st.List(k)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if e.Problem != nil {
					probs = append(probs, e.Problem.Problems...)
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(invalidDesc, prometheus.GaugeValue, float64(invalidFiles(probs)))
}

// invalidFiles counts the distinct files among problems.
func invalidFiles(probs []state.Problem) int {
	files := map[string]bool{}
	for _, p := range probs {
		files[p.File] = true
	}
	return len(files)
}
