// Package stub is aima's own small OpenAI-compatible inference server, used
// as the "stub" engine so that everything runs on a machine with no GPU and
// no registry. Its image is built locally from the aima binary itself.
//
// The package owns the server (Serve, Handler) and the stub image
// (EnsureImage). Its answers are deterministic functions of the served model
// name and the request, so tests can assert on them. It must not depend on
// the rest of aima: the image runs this code as `/aima stub serve` with
// nothing else present.
package stub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// Environment variables read by Serve. They exist for tests of the agent,
// which need engines that crash or start slowly.
const (
	// EnvFail, when "1", makes Serve fail right after it starts, so the
	// container exits with status 1 (a crash loop).
	EnvFail = "AIMA_STUB_FAIL"
	// EnvDelay is a Go duration ("5s") during which the server answers 503
	// to every request, /health included (the "starting" status).
	EnvDelay = "AIMA_STUB_DELAY"
)

// shutdownTimeout bounds how long Serve waits for in-flight requests after
// its context ends. Docker sends SIGKILL 10 s after SIGTERM by default.
const shutdownTimeout = 5 * time.Second

// Options configure Serve.
type Options struct {
	Addr  string // listen address, e.g. ":8000"
	Model string // model name reported by /v1/models and echoed in answers

	// StartDelay is how long the server reports 503 before becoming
	// healthy. Serve sets it from AIMA_STUB_DELAY when it is zero.
	StartDelay time.Duration
	// Log receives one line per request; nil means os.Stdout, which is
	// the container log.
	Log io.Writer
}

// Serve serves the stub engine until ctx ends, then shuts down gracefully:
// it stops accepting connections and waits for in-flight requests. It
// returns nil after a shutdown caused by ctx, and an error when the address
// cannot be bound or when AIMA_STUB_FAIL=1.
func Serve(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = os.Stdout
	}
	if os.Getenv(EnvFail) == "1" {
		fmt.Fprintf(opts.Log, "aima-stub: %s=1: failing on purpose\n", EnvFail)
		return fmt.Errorf("stub serve: %s=1: failing on purpose", EnvFail)
	}
	if opts.StartDelay == 0 {
		if v := os.Getenv(EnvDelay); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("stub serve: %s: %w", EnvDelay, err)
			}
			opts.StartDelay = d
		}
	}
	if opts.Addr == "" {
		opts.Addr = ":8000"
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("stub serve: %w", err)
	}
	srv := &http.Server{
		Handler:           Handler(opts),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(opts.Log, "aima-stub: serving model %q on %s (start delay %s)\n", modelName(opts.Model), ln.Addr(), opts.StartDelay)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("stub serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(opts.Log, "aima-stub: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stub serve: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stub serve: %w", err)
	}
	return nil
}

// Handler returns the stub engine's HTTP handler for opts.Model. The start
// delay (opts.StartDelay) counts from this call. opts.Addr is ignored.
func Handler(opts Options) http.Handler {
	w := opts.Log
	if w == nil {
		w = os.Stdout
	}
	host, _ := os.Hostname()
	s := &server{
		model:       modelName(opts.Model),
		readyAt:     time.Now().Add(opts.StartDelay),
		log:         log.New(w, "", log.LstdFlags|log.LUTC|log.Lmicroseconds),
		fingerprint: "fp_" + host,
	}
	return s
}

// modelName is the name served when none is given, matching the CLI flag's
// default.
func modelName(m string) string {
	if m == "" {
		return "stub"
	}
	return m
}
