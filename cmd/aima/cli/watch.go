package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// watchEvents prints the agent's event stream (GET /api/events) until ctx
// ends or the agent goes away: a line per event, or with -o json the
// events as JSON lines ({"type": ..., "data": ...}).
func watchEvents(ctx context.Context, dir, format string, out io.Writer) error {
	resp, info, err := agentRequest(ctx, dir, http.MethodGet, "/api/events", nil)
	if err != nil {
		return fmt.Errorf("status --watch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status --watch: the agent at %s has no event stream (%s)", info.Addr, resp.Status)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Watching the agent at %s (Ctrl-C to stop):\n", info.Addr)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	typ := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := json.RawMessage(strings.TrimPrefix(line, "data: "))
			if format == "json" {
				b, _ := json.Marshal(map[string]any{"type": typ, "data": data})
				fmt.Fprintf(out, "%s\n", b)
				continue
			}
			if s := eventLine(typ, data); s != "" {
				fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05"), s)
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("status --watch: %w", err)
	}
	return fmt.Errorf("status --watch: the agent at %s ended the stream", info.Addr)
}

// eventLine is one event as a line of text ("" for events not worth one).
func eventLine(typ string, data json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	switch typ {
	case "status":
		s := fmt.Sprintf("%s/%s  %s", str("kind"), str("name"), str("status"))
		if r := str("reason"); r != "" {
			s += "  (" + r + ")"
		}
		return s
	case "commit":
		msg, _, _ := strings.Cut(str("message"), "\n")
		return fmt.Sprintf("commit %.12s  %s  (%s)", str("hash"), msg, str("author"))
	case "pass":
		if n, _ := m["ops"].(float64); n > 0 || str("error") != "" {
			s := fmt.Sprintf("sync pass: %v operation(s)", m["ops"])
			if e := str("error"); e != "" {
				s += ", error: " + e
			}
			if p := strings.TrimSpace(str("plan")); p != "" {
				s += "\n    " + strings.ReplaceAll(p, "\n", "\n    ")
			}
			return s
		}
	case "alert":
		return fmt.Sprintf("alert %s %s (%s) %s", str("rule"), str("state"), str("severity"), str("condition"))
	}
	return ""
}
