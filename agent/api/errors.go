package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aima-dev/aima/state"
)

// ErrUnavailable is state.ErrUnavailable: a dependency that is down, such
// as the Docker daemon; the API answers 503 for any error wrapping it.
var ErrUnavailable = state.ErrUnavailable

// Status is the HTTP status of each error code (state.Code): the one table
// from the error vocabulary to HTTP.
var Status = map[string]int{
	"invalid":     http.StatusUnprocessableEntity,
	"not_found":   http.StatusNotFound,
	"exists":      http.StatusConflict,
	"conflict":    http.StatusConflict,
	"unavailable": http.StatusServiceUnavailable,
	"timeout":     http.StatusGatewayTimeout,
	"internal":    http.StatusInternalServerError,
}

// Error is an error with its HTTP form: status, code word and details. The
// API answers {"error": {"code": ..., "message": ..., "details": [...]}}.
type Error struct {
	Status  int
	Code    string
	Message string
	Details []state.Problem
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError maps err to its HTTP form: *Error as it is; a body over the limit
// 413; else its kind (state.Code) through Status, invalid input with its
// problems (each naming its field) as details.
func AsError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "request body is over the %d-byte limit", tooLarge.Limit)
	}
	code := state.Code(err)
	e := errorf(Status[code], code, "%v", err)
	if code == "invalid" {
		e.Details = state.Problems(err)
	}
	return e
}

// WriteError answers err in the API's error format.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	details := e.Details
	if details == nil {
		details = []state.Problem{}
	}
	WriteJSON(w, e.Status, map[string]any{"error": map[string]any{
		"code":    e.Code,
		"message": e.Message,
		"details": details,
	}})
}

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":{"code":"internal","message":%q,"details":[]}}`+"\n", "encode response: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// readBody reads the request body (limited to MaxBody by the server).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, "bad_request", "read body: %v", err)
	}
	return b, nil
}

// DecodeBody reads a request's JSON object body, numbers kept exact as
// json.Number; an empty body is {}.
func DecodeBody(r *http.Request) (map[string]any, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep integers exact for the schema
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf(http.StatusBadRequest, "bad_json", "bad JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, "bad_json", "bad JSON: more than one value in the body")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "bad_json", "bad JSON: the body must be an object of fields, not %s", jsonType(v))
	}
	return m, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
