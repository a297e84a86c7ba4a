// Package browser starts a headless Chromium for the web page's tests and
// benchmark (chromedp drives it over the DevTools protocol). It finds the
// browser; it does not install one.
package browser

import (
	"context"
	"os"
	"os/exec"

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
func New(ctx context.Context, path string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	return bctx, func() {
		cancelBrowser()
		cancelAlloc()
	}
}
