package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The web page's sign-in. `aima ui` asks the agent (with the owner's
// token) for a one-time code and prints a link carrying it; opening the
// link trades the code for a session, which is two secrets:
//
//   - a cookie, HttpOnly (no script reads it) and SameSite=Strict (no
//     other site's page or link sends it);
//   - a key, handed to the page in the URL fragment of the redirect (never
//     sent to a server) and kept in the page's localStorage, which the
//     page sends as X-Aima-Session (or ?session= on its event stream).
//
// Both are needed. The key exists because cookies are scoped to a host
// name, not a port: every server the browser visits on 127.0.0.1 (an app
// container, another agent) receives the cookie, but not the key, which
// localStorage keeps to this origin (scheme, host and port). The code is
// good once and for CodeTTL. A session counts only on requests the
// agent's own page makes: one whose Origin is another (even an allowed
// CORS origin), or that a browser marks as from elsewhere (Sec-Fetch-Site:
// same-site, cross-site), is not signed in, and a POST must carry the
// page's own Origin. Sessions live in the agent's memory: a restart signs
// every page out.
const (
	// SessionCookie is the session cookie's name.
	SessionCookie = "aima_session"
	// CodeTTL is how long a sign-in code is good for.
	CodeTTL = 2 * time.Minute
	// SessionTTL is how long a session lasts.
	SessionTTL = 12 * time.Hour
	// LoginPath is where a sign-in link points (?code=...).
	LoginPath = "/ui/login"
	// CodePath is the route `aima ui` asks for a code at (POST, bearer
	// token only: a session cannot mint more sessions).
	CodePath = "/api/ui/code"
	// SessionHeader carries the session's key on the page's requests.
	SessionHeader = "X-Aima-Session"
)

// Sessions holds the sign-in codes and the sessions of the web page. The
// zero value is ready to use.
type Sessions struct {
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time

	mu       sync.Mutex
	codes    map[string]time.Time // code → expiry
	sessions map[string]session   // cookie value → session
}

type session struct {
	key     string // what the page sends beside the cookie
	expires time.Time
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func secret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Code mints a one-time sign-in code.
func (s *Sessions) Code() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expire(now)
	if s.codes == nil {
		s.codes = map[string]time.Time{}
	}
	c := secret()
	s.codes[c] = now.Add(CodeTTL)
	return c, s.codes[c]
}

// redeem spends a code (whatever the outcome, it cannot be used again)
// and returns a new session: its cookie value and its key.
func (s *Sessions) redeem(code string) (id, key string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expire(now)
	var found string
	for c := range s.codes { // constant time per code: no early exit to time
		if subtle.ConstantTimeCompare([]byte(c), []byte(code)) == 1 {
			found = c
		}
	}
	if found == "" || code == "" {
		return "", "", false
	}
	delete(s.codes, found)
	if s.sessions == nil {
		s.sessions = map[string]session{}
	}
	id, key = secret(), secret()
	s.sessions[id] = session{key: key, expires: now.Add(SessionTTL)}
	return id, key, true
}

// valid reports whether id and key are a live session's.
func (s *Sessions) valid(id, key string) bool {
	if id == "" || key == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.now())
	ok := false
	for sid, ses := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(sid), []byte(id)) == 1 && subtle.ConstantTimeCompare([]byte(ses.key), []byte(key)) == 1 {
			ok = true
		}
	}
	return ok
}

// end signs a session out.
func (s *Sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
}

func (s *Sessions) expire(now time.Time) {
	for c, exp := range s.codes {
		if !now.Before(exp) {
			delete(s.codes, c)
		}
	}
	for id, ses := range s.sessions {
		if !now.Before(ses.expires) {
			delete(s.sessions, id)
		}
	}
}

// sessionAuth reports whether r is signed in by a session cookie, and if
// not, why (empty when r carries no session cookie at all).
func (s *Server) sessionAuth(r *http.Request) (bool, string) {
	if s.opts.Sessions == nil {
		return false, ""
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return false, ""
	}
	key := r.Header.Get(SessionHeader)
	if key == "" && r.Method == http.MethodGet {
		key = r.URL.Query().Get("session") // an EventSource sends no headers
	}
	if !s.opts.Sessions.valid(c.Value, key) {
		return false, "no web page session (ended, or its key missing): run aima ui for a new sign-in link"
	}
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "", "same-origin", "none":
	default:
		return false, "a session cookie counts only on requests from the agent's own page"
	}
	origin := r.Header.Get("Origin")
	if origin != "" && !sameOrigin(origin, r) {
		return false, "a session cookie counts only on requests from the agent's own page"
	}
	if origin == "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false, "a write signed in by a session cookie must come from the agent's own page (Origin)"
	}
	return true, ""
}

// login trades a one-time code (?code=) for a session cookie and sends the
// browser to the page.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "", "none", "same-origin":
	default: // a link on another site: never sign a browser in from there
		WriteError(w, errorf(http.StatusForbidden, "forbidden_origin", "a sign-in link works only when opened directly (paste the link aima ui printed into the address bar)"))
		return
	}
	id, key, ok := s.opts.Sessions.redeem(r.URL.Query().Get("code"))
	if !ok {
		WriteError(w, errorf(http.StatusUnauthorized, "unauthorized", "this sign-in link is used, expired (after %s) or wrong: run aima ui for a new one", CodeTTL))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	// The key travels in the fragment, which the browser keeps to itself.
	http.Redirect(w, r, "/ui/#session="+key, http.StatusSeeOther)
}

// logout ends the session of the request's cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.opts.Sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	WriteJSON(w, http.StatusOK, map[string]any{"signed_out": true})
}

// mintCode answers `aima ui`: a new sign-in code and when it expires.
// Only a bearer token may ask; a session cannot mint another.
func (s *Server) mintCode(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.tokenName(r); !ok && len(s.tokens) > 0 {
		WriteError(w, errorf(http.StatusForbidden, "forbidden", "sign-in codes are given to the owner's token only (aima ui)"))
		return
	}
	code, exp := s.opts.Sessions.Code()
	WriteJSON(w, http.StatusOK, map[string]any{"code": code, "path": LoginPath + "?code=" + code, "expires": exp.UTC()})
}
