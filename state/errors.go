package state

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds callers branch on: the one vocabulary of every door. Code
// maps an error to its code word once (Code); the HTTP API turns the code into a
// status, the CLI into an exit code, MCP into a tool error.
var (
	ErrInvalid     = errors.New("invalid")        // 422: bad input, nothing written; the problems name the fields
	ErrNotFound    = errors.New("not found")      // 404
	ErrExists      = errors.New("already exists") // 409 on create
	ErrConflict    = errors.New("conflict")       // 409: stale revision, concurrent update, not in the wanted state
	ErrUnavailable = errors.New("unavailable")    // 503: Docker or a remote cannot be reached; retry later
	ErrTimeout     = errors.New("timeout")        // 504: waited and it did not happen
)

// Code is the code word of err's kind: "invalid", "not_found", "exists",
// "conflict", "unavailable", "timeout", or "internal".
func Code(err error) string {
	for _, k := range []struct {
		err  error
		code string
	}{
		{ErrInvalid, "invalid"}, {ErrNotFound, "not_found"}, {ErrExists, "exists"}, {ErrConflict, "conflict"},
		{ErrUnavailable, "unavailable"}, {ErrTimeout, "timeout"},
	} {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	return "internal"
}

// FieldError is an invalid input whose problem is one field (a JSON
// pointer without the leading slash: "name", "steps/0/id").
func FieldError(field, format string, args ...any) error {
	return &InvalidError{Problems: []Problem{{Field: "/" + strings.TrimPrefix(field, "/"), Message: fmt.Sprintf(format, args...)}}}
}

// Problem is one thing wrong with a file or request body.
type Problem struct {
	File    string `json:"file,omitempty" yaml:"file,omitempty"`
	Line    int    `json:"line,omitempty" yaml:"line,omitempty"`
	Column  int    `json:"column,omitempty" yaml:"column,omitempty"`
	Field   string `json:"field,omitempty" yaml:"field,omitempty"`   // JSON pointer into the object, e.g. /steps/0/id
	Schema  string `json:"schema,omitempty" yaml:"schema,omitempty"` // schema keyword path, e.g. /properties/port/maximum
	Message string `json:"message" yaml:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	if p.Schema != "" {
		b.WriteString(" (schema " + p.Schema + ")")
	}
	return b.String()
}

// InvalidError lists the problems of one file or body. It matches ErrInvalid.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid: " + strings.Join(parts, "; ")
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Problems returns the problems carried by err, or one problem holding its
// message when err is not an *InvalidError.
func Problems(err error) []Problem {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Problems
	}
	return []Problem{{Message: err.Error()}}
}

func invalid(file, field, format string, args ...any) error {
	return &InvalidError{Problems: []Problem{{File: file, Field: field, Message: fmt.Sprintf(format, args...)}}}
}
