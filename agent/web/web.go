// Package web is the agent's web page at /ui/: plain HTML, CSS and
// JavaScript embedded in the binary, no build step. It is an adapter at
// the edge like MCP: the page holds no state and has no routes of its own
// beyond its files — everything it shows and does goes through the API's
// routes (GET /api/..., POST /api/... with JSON, GET /api/events,
// /v1/chat/completions), signed in by the session cookie of `aima ui`'s
// link, behind the same door as every other client.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Files are the page's files (for the size budget: page + assets).
func Files() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory is always there
	}
	return sub
}

// csp lets the page load only its own files and talk only to its agent;
// no other site may frame it.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page's files under /ui/.
func Handler() http.Handler {
	files := http.StripPrefix("/ui/", http.FileServerFS(Files()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// Root sends a browser at the agent's address to the page.
func Root() http.Handler { return http.RedirectHandler("/ui/", http.StatusFound) }
