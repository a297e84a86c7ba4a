package api

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Door is the one check every request passes before it reaches a route:
// the HTTP API, the OpenAI-compatible gateway and every door built on them
// (MCP over HTTP, the web page) share it. It answers what a browser, a
// page the owner visits or another local user must not be able to do:
//
//  1. Host must be a loopback name (localhost, 127.0.0.1, [::1], with any
//     port), an allowed name, or — when the agent listens off loopback — an
//     IP literal. A DNS-rebinding page always arrives with its own name.
//  2. A request from another site (an Origin that is not this agent's own,
//     "null", or Sec-Fetch-Site: cross-site) is refused unless its origin
//     is allowed; CORS headers are sent only to allowed origins.
//  3. Every request but GET /health carries a bearer token.
//  4. A POST carries Content-Type: application/json, which a form or a
//     text/plain fetch cannot send without a CORS preflight.
//
// Routes then refuse GET for anything that changes state (405, Allow: POST).
type Door struct {
	// Hosts are extra Host names (without port) the agent answers to.
	Hosts []string
	// Origins are origins ("https://ops.example.com") allowed to call the
	// API from a browser; they get CORS headers.
	Origins []string
	// AnyIP accepts any IP literal as Host (the agent listens off loopback).
	AnyIP bool
}

// refuse answers a request the door does not let through, or returns nil.
// It runs before authentication: a refused Host or Origin learns nothing.
func (d Door) refuse(w http.ResponseWriter, r *http.Request) *Error {
	if !d.hostAllowed(r.Host) {
		return errorf(http.StatusMisdirectedRequest, "forbidden_host", "Host %q is not a name this agent answers to (localhost, 127.0.0.1, [::1]; add others to allowed_hosts in .local/settings.yaml)", r.Host)
	}
	origin := r.Header.Get("Origin")
	if origin != "" && !sameOrigin(origin, r) {
		if !d.originAllowed(origin) {
			return errorf(http.StatusForbidden, "forbidden_origin", "requests from origin %q are refused (add it to cors_origins in .local/settings.yaml to allow a web page there)", origin)
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Credentials", "true")
	} else if origin == "" && strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
		return errorf(http.StatusForbidden, "forbidden_origin", "cross-site requests are refused")
	}
	return nil
}

// preflight answers a CORS preflight from an allowed origin; it reports
// whether it did.
func (d Door) preflight(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if w.Header().Get("Access-Control-Allow-Origin") == "" {
		return false // same origin, or no origin: not a preflight we answer
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Aima-Author, If-Match")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// jsonBody refuses a POST whose body is not declared JSON.
func jsonBody(r *http.Request) *Error {
	if r.Method != http.MethodPost {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "POST %s: Content-Type must be application/json (got %q)", r.URL.Path, r.Header.Get("Content-Type"))
	}
	return nil
}

func (d Door) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false // HTTP/1.0 without Host: nothing to check it against
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: always loopback
	}
	if ip := net.ParseIP(stripZone(host)); ip != nil {
		return ip.IsLoopback() || d.AnyIP
	}
	for _, h := range d.Hosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), host) {
			return true
		}
	}
	return false
}

func stripZone(host string) string {
	h, _, _ := strings.Cut(host, "%")
	return h
}

func (d Door) originAllowed(origin string) bool {
	for _, o := range d.Origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether a browser's Origin is the agent itself (a
// page the agent serves), judged against the Host the request was sent to.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // "null" (sandboxed frames, file:) is never same-origin
	}
	return strings.EqualFold(u.Host, r.Host)
}
