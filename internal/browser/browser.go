// Package browser starts a headless Chromium for the web page's tests and
// benchmark (chromedp drives it over the DevTools protocol). It finds the
// browser; it does not install one. It lives apart from testenv so that
// only the tests that drive a browser build the DevTools protocol.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// EnvPath names a browser binary to use instead of searching PATH.
const EnvPath = "AIMA_BROWSER"

// Path is the Chromium (or Chrome) binary to drive: $AIMA_BROWSER, else
// the first of chromium, chromium-browser, google-chrome on PATH; "" when
// there is none.
func Path() string {
	if p := os.Getenv(EnvPath); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless browser at path with a fresh profile and returns
// a context of its first tab, and the function that closes the browser.
func New(path string) (context.Context, context.CancelFunc, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	cancel := func() {
		cancelBrowser()
		cancelAlloc()
	}
	// The first action starts the browser; it runs without a deadline (a
	// deadline on it would end the browser with it).
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return bctx, cancel, nil
}

// ForTest starts a browser for t and closes it at the end. Without one
// the test skips with a message saying what to install — except under
// CI=true, where a missing browser fails the test: CI installs Chromium
// (.ci/run), and a browser test that silently skips there tests nothing.
// It skips under -short.
func ForTest(t testing.TB) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	path := Path()
	if path == "" {
		msg := "no Chromium found (install Debian's chromium, or set " + EnvPath + " to a Chrome binary)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ctx
}
