package main

// Issue 18: the web page, in a real browser (headless Chromium driven by
// chromedp) against the real agent and a stub service: what a newcomer
// does after `make run` and `aima ui` — sign in, see the service running,
// stop it (by keyboard) and start it, see the commits that made, roll
// back from the history, edit the file as YAML, chat with the model.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/aima-dev/aima/internal/browser"
)

// EnvShots names a directory for the web tests' screenshots (CI keeps it
// as an artifact); without it they go to a temporary directory.
const EnvShots = "AIMA_WEB_SHOTS"

// page is the browser of one web test, with a deadline per step.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func newPage(t *testing.T) *page {
	t.Helper()
	shots := os.Getenv(EnvShots)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &page{t: t, ctx: browser.ForTest(t), shots: shots}
}

// css is a CSS selector (a plain string is a DOM search: text, CSS or
// XPath).
type css = chromedp.CSS

// get runs a step that reads something, failing the test with what the
// user was doing when it does not finish within a minute.
func get[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
	return v
}

// do runs steps as get does.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	get(p, what, chromedp.Steps(steps...))
}

// shot saves a screenshot of the whole page as name.png.
func (p *page) shot(name string) {
	p.t.Helper()
	png := get(p, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// accessible checks the page's controls for keyboard and screen-reader
// users — every button and link has a name, every field a label, every
// table a caption, the page a heading — and that no script failed.
func (p *page) accessible(where string) {
	p.t.Helper()
	problems := get(p, "check labels on "+where, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const name = (el) => (el.getAttribute('aria-label') || el.textContent || '').trim();
		for (const el of document.querySelectorAll('button, a[href]')) if (!name(el)) out.push(el.outerHTML.slice(0, 80) + ': no accessible name');
		for (const el of document.querySelectorAll('textarea, select, input')) if (!el.labels.length && !el.getAttribute('aria-label')) out.push('#' + el.id + ': no label');
		for (const el of document.querySelectorAll('table')) if (!el.querySelector('caption')) out.push('a table without a caption');
		if (!document.querySelector('h1')) out.push('no heading');
		for (const err of window.aimaErrors || []) out.push('script error: ' + err);
		return out;
	})()`))
	if len(problems) > 0 {
		p.t.Errorf("%s: %s", where, strings.Join(problems, "; "))
	}
}

// tabTo presses Tab until the focused element has the accessible name
// label (at most 60 times), as a keyboard user would reach it.
func (p *page) tabTo(label string) {
	p.t.Helper()
	for range 60 {
		focused := get(p, "read the focus", chromedp.Evaluate[string](`document.activeElement ? (document.activeElement.getAttribute('aria-label') || document.activeElement.textContent.trim()) : ''`))
		if focused == label {
			return
		}
		p.do("press Tab", chromedp.KeyEvent(kb.Tab))
	}
	p.t.Fatalf("%q cannot be reached with the Tab key", label)
}

// row is the selector of an object's row on the overview.
func row(kind, name string) string { return fmt.Sprintf(`tr[data-key=%q]`, kind+"/"+name) }

// badge is the selector of a status badge showing status within sel.
func badge(sel, status string) css { return css(fmt.Sprintf(`%s .badge[data-status=%q]`, sel, status)) }

// text is an XPath for an element with id id containing s.
func text(id, s string) string { return fmt.Sprintf(`//*[@id=%q]//*[contains(., %q)]`, id, s) }

// stubAgent is a running agent (with extraEnv) with one running stub
// service of model tiny, named service.
func stubAgent(t *testing.T, service string, extraEnv ...string) *aimaEnv {
	t.Helper()
	e := newAimaEnv(t, 4)
	e.mustAima("model", "create", "--name", "tiny", "--source", "ollama", "--repo", "tinyllama")
	e.mustAima("service", "create", "--name", service, "--model-id", "tiny", "--engine-type", "stub")
	e.startAgent(extraEnv...)
	e.waitStatus(service, "running", 2*time.Minute)
	return e
}

func TestWebPage(t *testing.T) {
	e := stubAgent(t, "demo")
	p := newPage(t)

	// Sign in with the link aima ui prints; the overview shows the
	// service running.
	link := strings.TrimSpace(e.mustAima("ui"))
	if !strings.HasPrefix(link, "http://"+e.addr+"/ui/login?code=") {
		t.Fatalf("aima ui printed %q, want a sign-in link to %s", link, e.addr)
	}
	demo := row("service", "demo")
	p.do("sign in and see the service running", chromedp.Navigate(link), chromedp.WaitVisible(badge(demo, "running")),
		chromedp.WaitVisible(css(`#live.on`)))
	p.accessible("overview")
	p.shot("overview")

	// Stop it with the keyboard: the status changes and the commit shows
	// up while the page stays loaded (a reload would drop the marker).
	get(p, "mark the page", chromedp.Evaluate[bool](`window.notReloaded = true`))
	p.tabTo("Stop service demo")
	p.do("stop the service from the page", chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(badge(demo, "stopped")),
		chromedp.WaitVisible(text("recent", "service stop: demo")))
	e.waitStatus("demo", "stopped", 30*time.Second)
	if out := e.mustGit("log", "-1", "--format=%an %s"); !strings.Contains(out, "web service stop: demo") {
		t.Errorf("the stop's commit: %q, want one by web", out)
	}

	// Start it again with the mouse.
	p.do("start the service from the page", chromedp.Click(css(`button[aria-label="Start service demo"]`)),
		chromedp.WaitVisible(badge(demo, "running")),
		chromedp.WaitVisible(text("recent", "service start: demo")))
	if !get(p, "check the page was not reloaded", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page reloaded to show the change; it must update live")
	}

	// The service's page: its file, rendered container and log; a schema
	// error shows inline, naming the field.
	p.do("open the service", chromedp.Click(css(demo+` a`)), chromedp.WaitVisible(css(`#obj-status .badge[data-status="running"]`)),
		chromedp.WaitNotPresent(`//pre[@id="rendered" and .="…"]`))
	file := get(p, "read the file", chromedp.Value(css(`#file`)))
	if !strings.Contains(file, "model: tiny") || !strings.Contains(file, "engine: stub") {
		t.Errorf("the file shown:\n%s\nwant model and engine", file)
	}
	p.accessible("service")
	p.shot("service")
	p.do("save a file with a typo", chromedp.SetValue(css(`#file`), file+"colour: red\n"), chromedp.Click(`//button[.="Save"]`),
		chromedp.WaitVisible(text("file-errors", "colour")))

	// History: roll the state back to the stop's commit — the service
	// stops — then restore the service alone as of its start.
	p.do("open the history", chromedp.Click(css(`a[href="#/history"]`)), chromedp.WaitVisible(text("commits", "service start: demo")))
	p.accessible("history")
	p.shot("history")
	stop := strings.Fields(e.mustGit("log", "--format=%H", "--grep=service stop: demo"))[0]
	start := strings.Fields(e.mustGit("log", "--format=%H", "--grep=service start: demo"))[0]
	p.do("roll back to the stop", chromedp.Click(css(fmt.Sprintf(`[data-hash=%q] button[aria-label^="Roll back to"]`, stop))),
		chromedp.WaitVisible(text("commits", "rollback: to "+stop[:12])))
	e.waitStatus("demo", "stopped", 30*time.Second)
	p.do("show a commit's diff", chromedp.Click(css(fmt.Sprintf(`[data-hash=%q] button[aria-label^="Show diff"]`, stop))),
		chromedp.WaitVisible(fmt.Sprintf(`//*[@data-hash=%q]//pre[contains(., "+state: stopped")]`, stop)))
	p.do("restore the service as of its start", chromedp.Click(css(fmt.Sprintf(`[data-hash=%q] button[aria-label="Restore service/demo as of %s"]`, start, start[:12]))),
		chromedp.WaitVisible(text("commits", "rollback: services/demo.yaml to "+start[:12])))
	e.waitStatus("demo", "running", time.Minute)

	// Changes, alerts, pipelines: each page shows.
	p.do("open the changes", chromedp.Click(css(`a[href="#/changes"]`)), chromedp.WaitVisible(css(`#in-sync`)))
	p.do("sync from the page", chromedp.Click(`//button[.="Sync now"]`), chromedp.WaitVisible(css(`#sync-result`)))
	p.accessible("changes")
	p.shot("changes")
	p.do("open the alerts", chromedp.Click(css(`a[href="#/alerts"]`)), chromedp.WaitVisible(css(`#rules`)))
	p.accessible("alerts")
	p.shot("alerts")
	e.mustCall("POST", "/api/pipeline/create", `{"name": "check", "steps": [{"id": "models", "unit": "model.list"}]}`, http.StatusCreated)
	p.do("run a pipeline from the page", chromedp.Click(css(`a[href="#/pipelines"]`)), chromedp.Click(css(`button[aria-label="Run pipeline check"]`)),
		chromedp.WaitVisible(badge(`#runs-check`, "completed")), chromedp.WaitVisible(text("runs-check", "models: completed")))
	p.accessible("pipelines")
	p.shot("pipelines")

	// Chat: the answer streams in, piece by piece.
	p.do("chat with the model", chromedp.Click(css(`a[href="#/chat"]`)), chromedp.WaitVisible(css(`#prompt`)),
		chromedp.SetValue(css(`#prompt`), "hello from the page"), chromedp.Click(`//button[.="Send"]`),
		chromedp.WaitVisible(css(`.bubble.assistant[data-done]`)))
	answer := get(p, "read the answer", chromedp.Text(css(`.bubble.assistant`)))
	pieces := get(p, "count the answer's pieces", chromedp.AttributeValue(css(`.bubble.assistant`), "data-pieces")).Value
	if !strings.HasPrefix(answer, "stub answer from ") || !strings.HasSuffix(answer, "hello from the page") {
		t.Errorf("the chat answer: %q, want the stub's answer to the message", answer)
	}
	if pieces == "" || pieces == "1" {
		t.Errorf("the answer came in %q piece(s): it did not stream", pieces)
	}
	p.accessible("chat")
	p.shot("chat")

	// Edit as YAML, for real this time: the save is a commit by web, and
	// the service page shows the service stop without a reload.
	p.do("open the service again", chromedp.Click(css(`a[href="#/"]`)), chromedp.Click(css(demo+` a`)),
		chromedp.WaitVisible(css(`#obj-status .badge[data-status="running"]`)))
	file = get(p, "read the file", chromedp.Value(css(`#file`)))
	p.do("save the file with state: stopped", chromedp.SetValue(css(`#file`), strings.Replace(file, "state: running", "state: stopped", 1)),
		chromedp.Click(`//button[.="Save"]`), chromedp.WaitVisible(css(`#obj-status .badge[data-status="stopped"]`)))
	if out := e.mustGit("log", "-1", "--format=%an %s"); strings.TrimSpace(out) != "web service update: demo" {
		t.Errorf("the save's commit: %q, want web's service update", out)
	}
	e.waitStatus("demo", "stopped", 30*time.Second)

	// Signing out ends the session: the page asks for a new link.
	p.do("sign out", chromedp.Click(css(`#signout`)), chromedp.WaitVisible(`//h1[.="Sign in"]`))
	p.do("reload", chromedp.Reload(), chromedp.WaitVisible(`//h1[.="Sign in"]`))
}
