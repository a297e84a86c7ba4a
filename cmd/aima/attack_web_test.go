package main

// Issue 18: attacks on the web page's sign-in and session, on the real
// binary: a used or made-up sign-in code, the session cookie without its
// key (what a server on another port of 127.0.0.1 receives), the session
// on requests from another origin or port, a write without the page's
// Origin, a session minting more sessions.

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/aima-dev/aima/agent/api"
)

var noRedirect = &http.Client{Timeout: apiClient.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// openLink opens a sign-in link as a browser's address bar would; it
// returns the status, the session cookie and the key the redirect's
// fragment carries.
func (e *aimaEnv) openLink(link string) (int, *http.Cookie, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("Sec-Fetch-Site", "none")
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == api.SessionCookie {
			c = x
		}
	}
	_, key, _ := strings.Cut(resp.Header.Get("Location"), "#session=")
	return resp.StatusCode, c, key
}

// session is a signed-in page's cookie and key.
type session struct {
	cookie *http.Cookie
	key    string
}

// signIn signs in with a link from aima ui.
func (e *aimaEnv) signIn() session {
	e.t.Helper()
	code, c, key := e.openLink(strings.TrimSpace(e.mustAima("ui")))
	if code != http.StatusSeeOther || c == nil || key == "" {
		e.t.Fatalf("sign in: %d, cookie %v, key %q; want 303 with both", code, c, key)
	}
	return session{c, key}
}

// asPage is a request with the session's cookie and key (either left out
// when empty) and the headers given; no token.
func (e *aimaEnv) asPage(s session, r rawReq) (int, string) {
	e.t.Helper()
	if r.header == nil {
		r.header = map[string]string{}
	}
	if s.cookie != nil {
		r.header["Cookie"] = s.cookie.Name + "=" + s.cookie.Value
	}
	if s.key != "" {
		r.header[api.SessionHeader] = s.key
	}
	code, _, body := e.raw(r)
	return code, body
}

// TestAttackWebSignInLink: the link aima ui prints signs one browser in,
// once; the cookie is HttpOnly and SameSite=Strict; a made-up code, a used
// one, or one asked for without the owner's token signs nobody in.
func TestAttackWebSignInLink(t *testing.T) {
	e := newAimaEnv(t, 2)
	if _, stderr, code := e.aima("ui"); code == 0 || !strings.Contains(stderr, "aima start") {
		t.Fatalf("aima ui without an agent: exit %d, %q; want an error saying to start one", code, stderr)
	}
	e.startAgent()
	link := strings.TrimSpace(e.mustAima("ui"))
	code, c, key := e.openLink(link)
	if code != http.StatusSeeOther || c == nil || key == "" {
		t.Fatalf("the link: %d, cookie %v, key %q; want 303 to the page with a cookie and a key", code, c, key)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("the cookie: HttpOnly %v, SameSite %v, Path %q; want HttpOnly, Strict, /", c.HttpOnly, c.SameSite, c.Path)
	}
	if code, again, _ := e.openLink(link); code != http.StatusUnauthorized || again != nil {
		t.Errorf("the same link again: %d, cookie %v; want 401 and no cookie", code, again)
	}
	if code, made, _ := e.openLink("http://" + e.addr + api.LoginPath + "?code=" + strings.Repeat("0", 64)); code != http.StatusUnauthorized || made != nil {
		t.Errorf("a made-up code: %d, cookie %v; want 401", code, made)
	}
	// Another local user (no token) gets no code; a session mints none.
	if code, _, _ := e.raw(rawReq{method: "POST", path: api.CodePath, body: "{}", header: map[string]string{"Content-Type": "application/json"}}); code != http.StatusUnauthorized {
		t.Errorf("a code without the token: %d, want 401", code)
	}
	s := session{c, key}
	if code, _ := e.asPage(s, rawReq{method: "POST", path: api.CodePath, body: "{}", header: map[string]string{"Content-Type": "application/json", "Origin": "http://" + e.addr}}); code != http.StatusForbidden {
		t.Errorf("a code asked for by a session: %d, want 403", code)
	}
	// The page's files need no sign-in and may not be framed.
	code, h, body := e.raw(rawReq{method: "GET", path: "/ui/"})
	if code != http.StatusOK || !strings.Contains(body, "<main") || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("GET /ui/: %d, CSP %q; want the page, not frameable", code, h.Get("Content-Security-Policy"))
	}
}

// TestAttackWebSession: the session signs in the page's own requests and
// nothing else — not the cookie alone (every port of 127.0.0.1 receives
// it), not a page on another port or site, not a write without the page's
// Origin — and it ends when the page signs out.
func TestAttackWebSession(t *testing.T) {
	e := newAimaEnv(t, 2)
	e.startAgent()
	s := e.signIn()
	own := "http://" + e.addr
	list := rawReq{method: "GET", path: "/api/model/list"}
	if code, body := e.asPage(s, list); code != http.StatusOK {
		t.Fatalf("the page's own read: %d %s", code, body)
	}
	for _, c := range []struct {
		what string
		s    session
		r    rawReq
		want int
	}{
		{"the cookie without its key (a server on another port has it)", session{cookie: s.cookie}, list, http.StatusUnauthorized},
		{"the key without the cookie", session{key: s.key}, list, http.StatusUnauthorized},
		{"a page on another port (same site)", s, rawReq{method: "GET", path: "/api/model/list", header: map[string]string{"Sec-Fetch-Site": "same-site"}}, http.StatusUnauthorized},
		{"a page on another origin", s, rawReq{method: "GET", path: "/api/model/list", header: map[string]string{"Origin": "http://127.0.0.1:3000"}}, http.StatusForbidden},
		{"a cross-site request", s, rawReq{method: "GET", path: "/api/model/list", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"a write without the page's Origin", s, rawReq{method: "POST", path: "/api/model/create", body: `{"name": "a"}`, header: map[string]string{"Content-Type": "application/json"}}, http.StatusUnauthorized},
		{"a form post from the page", s, rawReq{method: "POST", path: "/api/model/create", body: `{"name": "b"}`, header: map[string]string{"Content-Type": "text/plain", "Origin": own}}, http.StatusUnsupportedMediaType},
	} {
		if code, body := e.asPage(c.s, c.r); code != c.want {
			t.Errorf("%s: %d %s; want %d", c.what, code, body, c.want)
		}
	}
	if out := e.mustGit("log", "--format=%s"); strings.Contains(out, "model create") {
		t.Fatalf("a refused write committed:\n%s", out)
	}
	// The page's own write commits as web.
	if code, body := e.asPage(s, rawReq{method: "POST", path: "/api/model/create", body: `{"name": "mine"}`, header: map[string]string{"Content-Type": "application/json", "Origin": own}}); code != http.StatusCreated {
		t.Fatalf("the page's own write: %d %s", code, body)
	}
	if out := e.mustGit("log", "-1", "--format=%an %s"); strings.TrimSpace(out) != "web model create: mine" {
		t.Errorf("the page's commit: %q, want web's", out)
	}
	// The event stream: the page's key rides in the query (EventSource
	// sends no headers); without the session, nothing.
	if code, _, _ := e.raw(rawReq{method: "GET", path: "/api/events"}); code != http.StatusUnauthorized {
		t.Errorf("events without a session: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, own+"/api/events?session="+s.key, nil)
	req.AddCookie(s.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || first != "event: hello\n" {
		t.Errorf("events with the session: %d, first line %q", resp.StatusCode, first)
	}
	// Signing out ends the session.
	if code, body := e.asPage(s, rawReq{method: "POST", path: "/api/ui/logout", body: "{}", header: map[string]string{"Content-Type": "application/json", "Origin": own}}); code != http.StatusOK {
		t.Fatalf("sign out: %d %s", code, body)
	}
	if code, _ := e.asPage(s, list); code != http.StatusUnauthorized {
		t.Errorf("after signing out: %d, want 401", code)
	}
}
