// Package api is aima's HTTP API: the same create/list/get/update/delete of
// every file-backed domain as the CLI, the live domains (device, inference,
// status, remote, agent), the git log, /health and /metrics.
//
// It owns routing, request decoding and limits, authentication by bearer
// token, the JSON error format and the HTTP metrics. Every write goes through
// state.Store, so an API change is a validated file plus one git commit,
// exactly like a CLI change. The package must not talk to Docker itself:
// observed state comes in through Options.Status, domain verbs that act on
// containers (service/stop, sync, diff, ...) come in through Options.Verbs,
// and a write only asks the agent to converge, through Options.Trigger.
package api

import (
	"crypto/subtle"
	"net/http"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aima-dev/aima/state"
	"github.com/aima-dev/aima/state/repo"
)

// MaxBody is the largest request body accepted, in bytes (the same limit as
// an object file).
const MaxBody = 1 << 20

// Options configure a Server.
type Options struct {
	// Store is the state directory served. Required.
	Store *state.Store
	// Token is the bearer token every request but GET /health must carry:
	// one secret, or named ones, "NAME=SECRET,NAME2=SECRET2"; a write made
	// with a named token commits as NAME (X-Aima-Author then only adds an
	// On-behalf-of trailer). Empty serves without a token (tests only:
	// the agent always has one).
	Token string
	// OwnerToken, when set, is accepted too, as an unnamed token: the
	// agent's own .local/token, which the owner's CLI reads.
	OwnerToken string
	// Door is the Host, Origin and content-type check (see Door).
	Door Door
	// Problems, when set, lists the invalid files the agent knows about
	// (the aima_invalid_files metric); when nil they are found by listing
	// the store.
	Problems func() []state.Problem
	// Verbs are extra domain verbs, keyed "service/stop" (or "sync"), served
	// at /api/<key>: a read at GET (and POST, for parameters in a JSON
	// body), a write at POST only. A verb replaces a built-in route of the
	// same path. Verbs get the same checks, body limit and metrics as the
	// built-in routes; WriteJSON and WriteError answer in the API's format.
	Verbs map[string]Verb
	// Routes are extra handlers by full mux pattern ("POST /v1/chat/completions"),
	// with the same authentication and metrics.
	Routes map[string]http.Handler
	// Public are handlers by mux pattern that need no token (the web
	// page's static files: they hold no state); the door still checks them.
	Public map[string]http.Handler
	// Sessions, when set, signs the web page in: a one-time code from
	// POST /api/ui/code (bearer token only) becomes a session cookie at
	// GET /ui/login, and the cookie then authenticates the page's own
	// requests (see Sessions).
	Sessions *Sessions
	// Registry receives the metrics; nil creates one (with the Go and
	// process collectors).
	Registry *prometheus.Registry
	// Version is shown by /health and /api/status.
	Version string
}

// Verb is one domain verb of Options.Verbs.
type Verb struct {
	// Read is true when the verb changes nothing (it answers GET).
	Read   bool
	Handle http.HandlerFunc
}

// Server serves the API. Create it with New.
type Server struct {
	opts    Options
	st      *state.Store
	mux     *http.ServeMux
	metrics *Metrics
	author  repo.Signature  // default author of API writes
	tokens  []Token         // Options.Token, parsed
	public  map[string]bool // patterns served without a token
}

// New returns a server for opts. It panics when opts.Store is nil or when
// the metrics cannot be registered on opts.Registry (both programming errors).
func New(opts Options) *Server {
	if opts.Store == nil {
		panic("api.New: Options.Store is nil")
	}
	s := &Server{
		opts:   opts,
		st:     opts.Store,
		author: repo.Signature{Name: "api", Email: opts.Store.Author.Email},
		tokens: ParseTokens(opts.Token),
	}
	if s.author.Email == "" {
		s.author.Email = "aima@localhost"
	}
	if t := strings.TrimSpace(opts.OwnerToken); t != "" {
		s.tokens = append(s.tokens, Token{Secret: t})
	}
	s.metrics = newMetrics(opts.Registry, s)
	s.mux = http.NewServeMux()
	s.public = map[string]bool{"GET /health": true}
	for pattern := range opts.Public {
		s.public[pattern] = true
	}
	if opts.Sessions != nil {
		s.public["GET "+LoginPath] = true
	}
	for pattern, h := range s.routes() {
		s.mux.Handle(pattern, h)
	}
	return s
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Metrics returns the server's metrics, so the agent can count its own
// events (sync passes) on the same registry.
func (s *Server) Metrics() *Metrics { return s.metrics }

// routes builds the route table: pattern → handler.
func (s *Server) routes() map[string]http.Handler {
	r := map[string]http.Handler{}
	add := func(pattern string, h http.HandlerFunc) { r[pattern] = h }

	add("GET /health", s.health)
	add("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP)

	for key, v := range s.opts.Verbs {
		path := "/api/" + strings.Trim(strings.TrimPrefix(strings.TrimPrefix(key, "/"), "api/"), "/")
		for p := range r {
			if strings.HasSuffix(p, " "+path) {
				delete(r, p)
			}
		}
		if v.Read {
			r["GET "+path] = v.Handle
		}
		r["POST "+path] = v.Handle
	}
	for pattern, h := range s.opts.Routes {
		r[pattern] = h
	}
	for pattern, h := range s.opts.Public {
		r[pattern] = h
	}
	if s.opts.Sessions != nil {
		add("GET "+LoginPath, s.login)
		add("POST "+CodePath, s.mintCode)
		add("POST /api/ui/logout", s.logout)
	}
	return r
}

// serveHTTP authenticates, limits the body, dispatches and counts.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h, pattern := s.mux.Handler(r)
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if sw.code == 0 {
				WriteError(sw, errorf(http.StatusInternalServerError, "internal", "internal error: %v", p))
			}
		}
		s.metrics.observe(route, sw.status(), time.Since(start))
	}()

	// The door first: a foreign Host or Origin learns nothing, not even
	// whether its token was right.
	if err := s.opts.Door.refuse(sw, r); err != nil {
		WriteError(sw, err)
		return
	}
	if s.opts.Door.preflight(sw, r) {
		return
	}
	tokenName, authorized := s.tokenName(r)
	why := ""
	if !authorized {
		var signedIn bool
		if signedIn, why = s.sessionAuth(r); signedIn {
			authorized, tokenName = true, SessionAuthor
		}
	}
	public := s.public[pattern] // a GET pattern serves HEAD too
	if len(s.tokens) > 0 && !public && !authorized {
		sw.Header().Set("WWW-Authenticate", `Bearer realm="aima"`)
		if why == "" {
			why = "missing or wrong bearer token (send Authorization: Bearer <token>; the agent's is in .aima/.local/token; the web page signs in with the link aima ui prints)"
		}
		WriteError(sw, errorf(http.StatusUnauthorized, "unauthorized", "%s", why))
		return
	}
	if pattern == "" {
		s.noRoute(sw, r, h)
		return
	}
	if err := jsonBody(r); err != nil {
		WriteError(sw, err)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(sw, r.Body, MaxBody)
	}
	a, who, err := s.authorOf(r, tokenName)
	if err != nil && r.Method == http.MethodPost {
		WriteError(sw, err)
		return
	}
	if err == nil {
		ctx := state.WithAuthor(r.Context(), a)
		if who != "" {
			ctx = state.WithOnBehalf(ctx, who)
		}
		r = r.WithContext(ctx)
	}
	h.ServeHTTP(sw, r)
}

// tokenName checks r's bearer token against the configured ones and
// returns the matching token's name ("" for an unnamed token).
func (s *Server) tokenName(r *http.Request) (string, bool) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	got = strings.TrimSpace(got)
	found, name := false, ""
	for _, t := range s.tokens { // every token compared: no early exit to time
		if subtle.ConstantTimeCompare([]byte(got), []byte(t.Secret)) == 1 {
			found, name = true, t.Name
		}
	}
	return name, found
}

// SessionAuthor is the author of the commits the web page makes (its
// session acts as a named token of this name).
const SessionAuthor = "web"

// Token is one accepted bearer token; Name is empty for a plain secret.
type Token struct{ Name, Secret string }

// ParseTokens reads --token / AIMA_TOKEN: a plain secret, or
// comma-separated NAME=SECRET pairs.
func ParseTokens(spec string) []Token {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil
	}
	if !strings.Contains(spec, "=") {
		return []Token{{Secret: spec}}
	}
	var out []Token
	for _, part := range strings.Split(spec, ",") {
		name, secret, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && name != "" && secret != "" {
			out = append(out, Token{Name: strings.TrimSpace(name), Secret: strings.TrimSpace(secret)})
		}
	}
	return out
}

// noRoute answers a request no pattern matched: 405 (with Allow) when the
// path exists for another method, a redirect when the mux wants to clean the
// path, else 404. The mux's own answers are plain text, so they are
// captured and rewritten as JSON.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	c := &captureWriter{header: http.Header{}}
	h.ServeHTTP(c, r)
	switch {
	case c.code == http.StatusMethodNotAllowed:
		allow := c.header.Get("Allow")
		w.Header().Set("Allow", allow)
		WriteError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, allow))
	case c.code >= 300 && c.code < 400 && c.header.Get("Location") != "":
		w.Header().Set("Location", c.header.Get("Location"))
		WriteJSON(w, c.code, map[string]any{"location": c.header.Get("Location")})
	default:
		WriteError(w, errorf(http.StatusNotFound, "not_found", "%s %s: no such route (GET /api/<domain>/list, POST /api/<domain>/create, ...; domains: %s)", r.Method, r.URL.Path, strings.Join(domains(), ", ")))
	}
}

func domains() []string {
	var out []string
	for _, k := range state.Kinds {
		out = append(out, k.Name)
	}
	out = append(out, "device", "inference", "status", "remote", "agent")
	sort.Strings(out)
	return out
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	m := map[string]any{"status": "ok"}
	if s.opts.Version != "" {
		m["version"] = s.opts.Version
	}
	WriteJSON(w, http.StatusOK, m)
}

// authorOf is the author of a write made by r, and who it is on behalf of.
// A named token writes as its name; X-Aima-Author ("Name <email>" or a bare
// name) then only becomes an On-behalf-of trailer, so no token holder can
// commit as someone else (aima-agent included). With the owner's unnamed
// token (or none) X-Aima-Author is the author, else "api".
func (s *Server) authorOf(r *http.Request, tokenName string) (repo.Signature, string, error) {
	h := strings.TrimSpace(r.Header.Get("X-Aima-Author"))
	var said repo.Signature
	if h != "" {
		if strings.ContainsAny(h, "\n\r\x00") {
			return repo.Signature{}, "", errorf(http.StatusBadRequest, "bad_request", "X-Aima-Author: %q is not \"Name <email>\" or a plain name", h)
		}
		if a, err := mail.ParseAddress(h); err == nil {
			name := a.Name
			if name == "" {
				name, _, _ = strings.Cut(a.Address, "@")
			}
			said = repo.Signature{Name: name, Email: a.Address}
		} else if strings.ContainsAny(h, "<>") {
			return repo.Signature{}, "", errorf(http.StatusBadRequest, "bad_request", "X-Aima-Author: %q is not \"Name <email>\" or a plain name", h)
		} else {
			said = repo.Signature{Name: h, Email: s.author.Email}
		}
	}
	if tokenName != "" {
		return repo.Signature{Name: tokenName, Email: s.author.Email}, h, nil
	}
	if said.Name != "" {
		return said, "", nil
	}
	return s.author, "", nil
}

// statusWriter records the status code written, for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer (flush,
// deadlines) for verbs that stream, such as service logs.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// captureWriter swallows the mux's plain-text answers.
type captureWriter struct {
	header http.Header
	code   int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return len(b), nil
}
