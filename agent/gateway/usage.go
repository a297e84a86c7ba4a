package gateway

import (
	"bytes"
	"encoding/json"
)

// usageTail keeps what it needs of an answer to read the engine's token
// counts ("usage"): the whole body of a JSON answer (up to a bound), or the
// end of a server-sent event stream, where the last chunk carries them.
type usageTail struct {
	stream bool
	buf    []byte
	over   bool // a JSON answer larger than the bound: its usage is not read
}

const (
	jsonBound = 1 << 20
	tailBound = 16 << 10
)

func (u *usageTail) write(p []byte) {
	if u.stream {
		u.buf = append(u.buf, p...)
		if len(u.buf) > 2*tailBound {
			u.buf = append(u.buf[:0], u.buf[len(u.buf)-tailBound:]...)
		}
		return
	}
	if u.over {
		return
	}
	if len(u.buf)+len(p) > jsonBound {
		u.over, u.buf = true, nil
		return
	}
	u.buf = append(u.buf, p...)
}

type usageDoc struct {
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// usage returns the prompt and completion tokens the answer reported.
func (u *usageTail) usage() (prompt, completion int, ok bool) {
	if !bytes.Contains(u.buf, []byte(`"usage"`)) {
		return 0, 0, false
	}
	doc := []byte(u.buf)
	if u.stream {
		// The last "data: {...}" line that carries usage.
		lines := bytes.Split(u.buf, []byte("\n"))
		doc = nil
		for i := len(lines) - 1; i >= 0; i-- {
			line := bytes.TrimSpace(lines[i])
			if d, found := bytes.CutPrefix(line, []byte("data:")); found && bytes.Contains(d, []byte(`"usage"`)) {
				doc = bytes.TrimSpace(d)
				break
			}
		}
	}
	var d usageDoc
	if doc == nil || json.Unmarshal(doc, &d) != nil || d.Usage == nil {
		return 0, 0, false
	}
	return d.Usage.PromptTokens, d.Usage.CompletionTokens, true
}
