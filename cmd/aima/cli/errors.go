package cli

import (
	"errors"

	"github.com/aima-dev/aima/state"
)

// exitCoder is an error that chooses the process exit code (aima diff exits 1
// when there are differences, 2 on error).
type exitCoder interface {
	error
	ExitCode() int
}

func asExitCoder(err error, target *exitCoder) bool { return errors.As(err, target) }

// exitError carries an exit code; an empty message prints nothing.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
func (e exitError) ExitCode() int { return e.code }

// Exit codes that scripts branch on, by error kind (state.Code): the one
// table from the error vocabulary to the command line. Everything else
// exits 1; commands with their own meaning (diff: 1 differences, 2 error;
// validate: 1 invalid files) say so with an exitError.
const (
	exitConflict    = 3   // a conflict: a file changed on both sides (pull), the remote is ahead (push), a stale revision, a name taken
	exitRefused     = 4   // a pulled revision refused (invalid files, policy, signature, rewritten history); nothing applied
	exitUnavailable = 5   // Docker or the remote cannot be reached: retry later
	exitTimeout     = 124 // waited (--wait --timeout) and it did not happen, as timeout(1) exits
)

// exitCode is the exit status of an error from its kind.
func exitCode(err error) int {
	var re *state.RefusedError
	if errors.As(err, &re) {
		return exitRefused
	}
	switch state.Code(err) {
	case "conflict", "exists":
		return exitConflict
	case "unavailable":
		return exitUnavailable
	case "timeout":
		return exitTimeout
	}
	return 1
}

// kindError is an error rewritten for the command line (flags instead of
// fields) that keeps its kind for exitCode.
type kindError struct {
	msg string
	err error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.err }
