package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aima-dev/aima/agent/api"
	"github.com/aima-dev/aima/agent/web"
	"github.com/aima-dev/aima/internal/browser"
)

// ---------------------------------------------------------------------------
// 8. The web page: the overview of 100 services in headless Chromium, from
// the navigation's start to the table drawn (the page's own mark,
// window.aimaRendered), next to the API reads it draws from, alone; and the
// size of the page and its assets.

var flagWebServices = 100

const webBudgetKB = 150

func (e *env) benchWeb() error {
	path := browser.Path()
	if path == "" {
		return fmt.Errorf("no Chromium found (install Debian's chromium, or set %s)", browser.EnvPath)
	}
	dir, _, err := e.newState("web")
	if err != nil {
		return err
	}
	// Stopped services: the overview's cost is the page's and the API's,
	// not a hundred health probes on this machine's two cores.
	if err := os.MkdirAll(filepath.Join(dir, "services"), 0o755); err != nil {
		return err
	}
	ports, err := e.ports(flagWebServices)
	if err != nil {
		return err
	}
	for i, p := range ports {
		name := fmt.Sprintf("web-%03d", i)
		if err := os.WriteFile(filepath.Join(dir, "services", name+".yaml"), append(serviceYAML(name, p), "state: stopped\n"...), 0o644); err != nil {
			return err
		}
	}
	if err := gitCommit(dir, "bench: services"); err != nil {
		return err
	}
	a, err := e.startAgent(dir, "agent-web")
	if err != nil {
		return err
	}
	defer e.stopAgent(a)
	if _, _, err := a.waitReady(60 * time.Second); err != nil {
		return err
	}
	base := "http://" + a.addr

	// The API reads the overview makes, alone, in sequence.
	reads := []string{"/api/service/list", "/api/app/list", "/api/log?n=5"}
	n := samples(30)
	apiOnly, err := timeCalls(n, func() error {
		for _, p := range reads {
			resp, err := httpc.Get(base + p)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", p, resp.Status)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}

	// The page: sign in as aima ui's link does, then load the overview n
	// times, each a fresh navigation.
	req, _ := http.NewRequest(http.MethodPost, base+api.CodePath, bytes.NewReader([]byte("{}")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	var code struct{ Path string }
	err = json.NewDecoder(resp.Body).Decode(&code)
	resp.Body.Close()
	if err != nil || code.Path == "" {
		return fmt.Errorf("sign-in code: %s %v", resp.Status, err)
	}
	bctx, cancel, err := browser.New(path)
	if err != nil {
		return err
	}
	defer cancel()
	load := func(url string) (float64, error) {
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := navigate(ctx, url, `main[data-rendered="overview"]`); err != nil {
			return 0, err
		}
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#objects tbody tr').length`))
		if err == nil && rows != flagWebServices {
			err = fmt.Errorf("the overview shows %d rows, want %d", rows, flagWebServices)
		}
		if err != nil {
			return 0, err
		}
		return chromedp.Run(ctx, chromedp.Evaluate[float64](`window.aimaRendered`))
	}
	if _, err := load(base + code.Path); err != nil {
		return fmt.Errorf("sign in: %w (%s)", err, a.logTail())
	}
	var page []float64
	for i := range max(n/10, 3) { // warm up
		if _, err := load(base + "/ui/?" + randHex(4)); err != nil {
			return fmt.Errorf("warm-up load %d: %w", i, err)
		}
	}
	for i := range n {
		v, err := load(base + "/ui/?" + randHex(4)) // a new document each time
		if err != nil {
			return fmt.Errorf("load %d: %w", i, err)
		}
		page = append(page, v)
	}

	size := 0
	if err := fs.WalkDir(web.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			var b []byte
			b, err = fs.ReadFile(web.Files(), p)
			size += len(b)
		}
		return err
	}); err != nil {
		return err
	}
	pg := e.series(fmt.Sprintf("web: overview of %d services, navigation to drawn (ms)", flagWebServices), page)
	ap := e.series("web: the overview's API reads alone (ms)", apiOnly)
	kb := float64(size) / 1024
	e.row(Row{
		What:       fmt.Sprintf("web overview with %d services, rendered (navigation start → table drawn), p50; page + assets", flagWebServices),
		Aima:       fmt.Sprintf("%s (p90 %s); %.1f KB", fmtMs(pg.Median), fmtMs(pg.P90), kb),
		Comparison: fmt.Sprintf("the API reads it draws from, alone: %s", fmtMs(ap.Median)),
		Target:     fmt.Sprintf("≤ 300 ms; ≤ %d KB", webBudgetKB),
		Pass:       ptr(pg.Median <= 300 && kb <= webBudgetKB),
		Note:       fmt.Sprintf("headless Chromium, %d loads after %d warm-up ones; services stopped (no health probes); sizes uncompressed", n, max(n/10, 3)),
	})
	return nil
}

// navigate loads url and waits for sel, saying what the page shows when
// it does not come.
func navigate(ctx context.Context, url, sel string) error {
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		return fmt.Errorf("%w; the page says: %s", err, tail(text, 500))
	}
	return nil
}
