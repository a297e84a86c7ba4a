package stub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxBody bounds request bodies; the stub has no use for large ones.
const maxBody = 4 << 20

// server is the stub engine's http.Handler.
type server struct {
	model   string
	readyAt time.Time
	log     *log.Logger
	// fingerprint is the system_fingerprint of chat answers: "fp_" and the
	// host name, in a container its short id (which replica answered).
	fingerprint string
	// pulled are the models pulled through the Ollama API.
	pulled pulledModels
}

// route is one endpoint: the methods it accepts and its handler.
type route struct {
	methods []string
	serve   func(s *server, w http.ResponseWriter, r *http.Request)
}

// routes are matched exactly: an OpenAI client never sends anything else,
// and exact matching keeps 404 and 405 distinguishable (net/http's pattern
// mux answers both in plain text).
var routes = map[string]route{
	"/health":              {[]string{http.MethodGet, http.MethodHead}, (*server).health},
	"/v1/models":           {[]string{http.MethodGet}, (*server).models},
	"/v1/chat/completions": {[]string{http.MethodPost}, (*server).chat},
	"/v1/completions":      {[]string{http.MethodPost}, (*server).completions},
	"/v1/embeddings":       {[]string{http.MethodPost}, (*server).embeddings},
	"/api/version":         {[]string{http.MethodGet, http.MethodHead}, (*server).ollamaVersion},
	"/api/tags":            {[]string{http.MethodGet}, (*server).ollamaTags},
	"/api/pull":            {[]string{http.MethodPost}, (*server).ollamaPull},
	"/api/copy":            {[]string{http.MethodPost}, (*server).ollamaCopy},
	"/api/chat":            {[]string{http.MethodPost}, (*server).ollamaChat},
	"/api/generate":        {[]string{http.MethodPost}, (*server).ollamaChat},
}

// ServeHTTP routes the request and logs one line for it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.log.Printf("aima-stub: %s %s %d %dB %s", r.Method, r.URL.Path, lw.status, lw.bytes, time.Since(start).Round(time.Microsecond))
	}()

	rt, ok := routes[r.URL.Path]
	if !ok {
		writeError(lw, http.StatusNotFound, "not_found_error", fmt.Sprintf("unknown route %s", r.URL.Path))
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		lw.Header().Set("Allow", strings.Join(rt.methods, ", "))
		writeError(lw, http.StatusMethodNotAllowed, "invalid_request_error", fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	if wait := time.Until(s.readyAt); wait > 0 {
		// Real engines load weights before answering; the agent must show
		// such a service as "starting", not "running".
		lw.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		if r.URL.Path == "/health" {
			writeJSON(lw, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
			return
		}
		writeError(lw, http.StatusServiceUnavailable, "server_error", fmt.Sprintf("model %s is still loading", s.model))
		return
	}
	rt.serve(s, lw, r)
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, modelList{
		Object: "list",
		Data:   []modelInfo{{ID: s.model, Object: "model", Created: 0, OwnedBy: "aima-stub"}},
	})
}

// decode reads a JSON request body into v, answering the OpenAI-style
// error itself when it cannot; it reports whether the caller may go on.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", fmt.Sprintf("request body over %d bytes", tooLarge.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("read request body: %v", err))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("invalid JSON body: %v", err))
		return false
	}
	return true
}

// apiError is the body of every error answer, in OpenAI's shape.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Message: msg, Type: typ}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; they always marshal.
		panic(fmt.Sprintf("stub: marshal %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// logWriter records the status and size of a response for the request log.
type logWriter struct {
	http.ResponseWriter
	status      int
	bytes       int
	wroteHeader bool
}

func (w *logWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status = status
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer's
// Flush, which streaming answers need.
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
