package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/api"
)

// clock is a settable time for Sessions.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sessionEnv is a server with sessions on a fake clock; code mints a
// sign-in code with the owner's token.
func sessionEnv(t *testing.T, door api.Door) (*env, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	e := newEnv(t, api.Options{Token: "owner-secret", Door: door, Sessions: &api.Sessions{Now: c.Now}})
	e.token = "owner-secret"
	return e, c
}

func (e *env) code() string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+api.CodePath, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct{ Code string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil {
		e.t.Fatalf("mint a code: %s", resp.Status)
	}
	return doc.Code
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// login opens the sign-in link; it returns the status, the cookie and the
// key the redirect's fragment carries.
func (e *env) login(code string) (int, *http.Cookie, string) {
	e.t.Helper()
	resp, err := noRedirect.Get(e.ts.URL + api.LoginPath + "?code=" + code)
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

// asPage sends GET path as the signed-in page would, with extra headers.
func (e *env) asPage(c *http.Cookie, key, path string, header map[string]string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	req.AddCookie(c)
	req.Header.Set(api.SessionHeader, key)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAttackSessionCodeExpires: a sign-in link opened after CodeTTL signs
// nobody in, and a session ends after SessionTTL.
func TestAttackSessionCodeExpires(t *testing.T) {
	e, clk := sessionEnv(t, api.Door{})
	late := e.code()
	clk.add(api.CodeTTL + time.Second)
	if code, c, _ := e.login(late); code != http.StatusUnauthorized || c != nil {
		t.Fatalf("an expired code: %d, cookie %v; want 401 and no cookie", code, c)
	}
	code, c, key := e.login(e.code())
	if code != http.StatusSeeOther || c == nil || key == "" {
		t.Fatalf("a fresh code: %d, cookie %v, key %q; want 303 with both", code, c, key)
	}
	if got := e.asPage(c, key, "/api/model/list", nil); got != http.StatusOK {
		t.Fatalf("signed in: %d, want 200", got)
	}
	clk.add(api.SessionTTL)
	if got := e.asPage(c, key, "/api/model/list", nil); got != http.StatusUnauthorized {
		t.Fatalf("after %s: %d, want 401", api.SessionTTL, got)
	}
}

// TestAttackSessionFromAllowedOrigin: an origin allowed for CORS (a
// dashboard elsewhere, with its own token) is still not the page: the
// session does not sign its requests in.
func TestAttackSessionFromAllowedOrigin(t *testing.T) {
	e, _ := sessionEnv(t, api.Door{Origins: []string{"http://127.0.0.1:3000"}})
	_, c, key := e.login(e.code())
	if got := e.asPage(c, key, "/api/model/list", map[string]string{"Origin": "http://127.0.0.1:3000"}); got != http.StatusUnauthorized {
		t.Fatalf("the session from an allowed CORS origin: %d, want 401", got)
	}
	if got := e.asPage(c, key, "/api/model/list", map[string]string{"Origin": e.ts.URL}); got != http.StatusOK {
		t.Fatalf("the session from the page's own origin: %d, want 200", got)
	}
}
