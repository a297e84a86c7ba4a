package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits on what a file or request body may contain. They bound the memory
// a hostile file can make aima use, including through YAML alias expansion.
const (
	MaxFileSize = 1 << 20 // bytes
	maxNodes    = 100_000 // YAML nodes after alias expansion
	maxDepth    = 64
)

// Decode parses and validates the content of an object file. file is the
// path shown in problems ("services/qwen.yaml"); its stem is the object's
// name: a missing name is filled in, a different one is an error. A
// pipeline step's unit is checked by its pattern only (see DecodeWith).
func (k *Kind) Decode(file string, data []byte) (Object, error) {
	return k.DecodeWith(file, data, nil)
}

// DecodeWith is Decode that also refuses a pipeline step whose unit
// unitExists does not know. The registry of units lives above state, so
// its caller passes it: Store.Decode its UnitExists, aima validate the
// registry's.
func (k *Kind) DecodeWith(file string, data []byte, unitExists func(name string) bool) (Object, error) {
	if len(data) > MaxFileSize {
		return nil, invalid(file, "", "file is %d bytes; the limit is %d", len(data), MaxFileSize)
	}
	stem := ""
	if file != "" {
		_, stem, _ = KindOfPath(file)
		// An empty file is not an object with every field unset: it is
		// most likely a save cut short or a placeholder, and must not
		// replace (or delete) the object it stands for.
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, invalid(file, "", "the file is empty; an object file holds the object's fields (write them, or delete the file to delete the object)")
		}
	}
	src, body, lineOffset, err := k.split(file, data)
	if err != nil {
		return nil, err
	}
	v, pos, err := parseYAML(file, src, lineOffset)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			if file != "" && strings.TrimSpace(body) == "" {
				return nil, invalid(file, "", "the file holds no fields, only comments or blank lines; write the object's fields (or delete the file to delete the object)")
			}
			m = map[string]any{}
		} else {
			return nil, &InvalidError{Problems: []Problem{{File: file, Line: 1 + lineOffset, Column: 1, Message: "the file must hold a mapping of fields (name: value)"}}}
		}
	}
	// "kind:" is allowed in files and in multi-document input; it must match.
	if kv, ok := m["kind"]; ok {
		ks, _ := kv.(string)
		kk, err := LookupKind(ks)
		if err != nil || kk != k {
			return nil, &InvalidError{Problems: []Problem{withPos(Problem{File: file, Field: "/kind", Message: fmt.Sprintf("kind %q does not belong in %s/ (expected %q)", ks, k.Dir, k.Name)}, pos)}}
		}
		delete(m, "kind")
	}
	if k == KindSkill && strings.TrimSpace(body) != "" {
		if _, dup := m["content"]; dup {
			return nil, invalid(file, "/content", "content is given both in the front matter and as the Markdown body; keep one")
		}
		m["content"] = strings.TrimRight(body, "\n")
	}
	if stem != "" {
		if n, ok := m["name"]; !ok {
			m["name"] = stem
		} else if n != stem {
			return nil, &InvalidError{Problems: []Problem{withPos(Problem{File: file, Field: "/name", Message: fmt.Sprintf("name %v does not match the file name %q (the file name is the object's name)", n, stem)}, pos)}}
		}
	}
	return k.fromGeneric(file, m, pos, unitExists)
}

// DecodeJSON parses and validates a JSON request body for the kind.
func (k *Kind) DecodeJSON(body []byte) (Object, error) {
	if len(body) > MaxFileSize {
		return nil, invalid("", "", "body is %d bytes; the limit is %d", len(body), MaxFileSize)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: bad JSON: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: bad JSON: more than one value", ErrInvalid)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: bad JSON: the body must be an object", ErrInvalid)
	}
	delete(m, "kind")
	return k.fromGeneric("", m, nil, nil)
}

// FromMap validates a generic map (for example built from CLI flags).
func (k *Kind) FromMap(m map[string]any) (Object, error) { return k.fromGeneric("", m, nil, nil) }

func (k *Kind) fromGeneric(file string, m map[string]any, pos map[string][2]int, unitExists func(string) bool) (Object, error) {
	if err := validate(k.Name, m, file, pos); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, invalid(file, "", "%v", err)
	}
	o := k.New()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(o); err != nil {
		return nil, invalid(file, "", "%v", err)
	}
	if err := CheckName("name", o.ObjectName()); err != nil {
		p := Problems(err)[0]
		p.File = file
		return nil, &InvalidError{Problems: []Problem{withPos(p, pos)}}
	}
	if err := check(o, unitExists); err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			for i := range ie.Problems {
				if file != "" { // a body's problems may name the file it would be written to
					ie.Problems[i].File = file
				}
				ie.Problems[i] = withPos(ie.Problems[i], pos)
			}
		}
		return nil, err
	}
	return o, nil
}

func withPos(p Problem, pos map[string][2]int) Problem {
	if lc, ok := pos[p.Field]; ok {
		p.Line, p.Column = lc[0], lc[1]
	}
	return p
}

// Encode renders an object as its file content.
func (k *Kind) Encode(o Object) ([]byte, error) {
	var buf bytes.Buffer
	if k == KindSkill {
		s := *o.(*Skill)
		content := s.Content
		s.Content = ""
		buf.WriteString("---\n")
		if err := encodeYAML(&buf, &s); err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		if content != "" {
			// Trailing newlines are not part of the content: the file ends
			// with exactly one, and decoding trims it, so content round-trips.
			buf.WriteString("\n" + strings.Trim(content, "\n") + "\n")
		}
		return buf.Bytes(), nil
	}
	buf.WriteString(k.Modeline())
	if err := encodeYAML(&buf, o); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// split separates a skill's front matter from its Markdown body.
func (k *Kind) split(file string, data []byte) (front []byte, body string, lineOffset int, err error) {
	if k != KindSkill {
		return data, "", 0, nil
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	if !strings.HasPrefix(s, "---\n") {
		return nil, "", 0, &InvalidError{Problems: []Problem{{File: file, Line: 1, Column: 1, Message: "a skill file starts with YAML front matter between two '---' lines, followed by the Markdown body"}}}
	}
	rest := s[4:]
	end := strings.Index(rest, "\n---\n")
	switch {
	case end >= 0:
		return []byte(rest[:end+1]), strings.TrimLeft(rest[end+5:], "\n"), 1, nil
	case strings.HasSuffix(rest, "\n---"):
		return []byte(rest[:len(rest)-3]), "", 1, nil
	case strings.HasPrefix(rest, "---\n") || rest == "---":
		return nil, strings.TrimLeft(strings.TrimPrefix(rest, "---"), "\n"), 1, nil
	}
	return nil, "", 0, &InvalidError{Problems: []Problem{{File: file, Line: 1, Column: 1, Message: "the front matter is not closed by a '---' line"}}}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses one YAML document into generic values, with the line and
// column of every value, keyed by JSON pointer.
func parseYAML(file string, data []byte, lineOffset int) (any, map[string][2]int, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		p := Problem{File: file, Message: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			line, p.Column = syntaxPosition(data, line, m[2])
			p.Line = line + lineOffset
			p.Message = m[2] + syntaxHint(m[2])
		}
		return nil, nil, &InvalidError{Problems: []Problem{p}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, nil, &InvalidError{Problems: []Problem{{File: file, Line: extra.Line + lineOffset, Column: 1, Message: "a file holds one object; found a second YAML document"}}}
	}
	c := &converter{file: file, pos: map[string][2]int{}, lineOffset: lineOffset}
	v, err := c.value(&doc, "", 0)
	if err != nil {
		return nil, nil, err
	}
	return v, c.pos, nil
}

// syntaxPosition points a YAML syntax error at its column. yaml.v3 gives
// only a line (sometimes the one before: the start of the enclosing
// construct), so the column is found from the kind of error: the second
// ": " of "a: b: c", the opening bracket or quote that is never closed,
// the character that cannot start a token; else the line's first
// non-blank character.
func syntaxPosition(data []byte, line int, msg string) (int, int) {
	lines := strings.Split(string(data), "\n")
	text := func(n int) string {
		if n >= 1 && n <= len(lines) {
			return strings.TrimRight(lines[n-1], "\r")
		}
		return ""
	}
	firstNonBlank := func(s string) int {
		if i := strings.IndexFunc(s, func(r rune) bool { return r != ' ' && r != '\t' }); i >= 0 {
			return i + 1
		}
		return 1
	}
	// unclosed finds an opener with no closer on the line (ignoring quoted
	// text), on the reported line or the next.
	unclosed := func(open, close byte) (int, int, bool) {
		for _, n := range []int{line, line + 1} {
			depth, at, quote := 0, -1, byte(0)
			t := text(n)
			for i := 0; i < len(t); i++ {
				c := t[i]
				switch {
				case quote != 0:
					if c == quote {
						quote = 0
					}
				case c == '"' || c == '\'':
					quote = c
				case c == '#' && (i == 0 || t[i-1] == ' '):
					i = len(t)
				case c == open:
					if depth == 0 {
						at = i
					}
					depth++
				case c == close && depth > 0:
					depth--
				}
			}
			if depth > 0 {
				return n, at + 1, true
			}
		}
		return 0, 0, false
	}
	t := text(line)
	switch {
	case strings.Contains(msg, "mapping values are not allowed"):
		if i := strings.Index(t, ": "); i >= 0 || strings.HasSuffix(t, ":") {
			if j := strings.Index(t[i+2:], ": "); i >= 0 && j >= 0 {
				return line, i + 2 + j + 1
			}
			if i >= 0 {
				return line, i + 1
			}
			return line, len(t)
		}
	case strings.Contains(msg, "expected ',' or ']'"):
		if n, c, ok := unclosed('[', ']'); ok {
			return n, c
		}
	case strings.Contains(msg, "expected ',' or '}'"):
		if n, c, ok := unclosed('{', '}'); ok {
			return n, c
		}
	case strings.Contains(msg, "end of stream"), strings.Contains(msg, "quoted scalar"):
		for _, n := range []int{line, line + 1} {
			for _, q := range []string{`"`, "'"} {
				if i := strings.Index(text(n), q); i >= 0 && strings.Count(text(n), q)%2 == 1 {
					return n, i + 1
				}
			}
		}
	case strings.Contains(msg, "tab character"):
		for _, n := range []int{line, line + 1} {
			if i := strings.IndexByte(text(n), '\t'); i >= 0 {
				return n, i + 1
			}
		}
	case strings.Contains(msg, "cannot start any token"):
		if i := strings.IndexAny(t, "@`\t%"); i >= 0 {
			return line, i + 1
		}
	}
	return line, firstNonBlank(t)
}

// syntaxHint explains the errors yaml.v3 reports at the start of the
// enclosing block rather than at the line at fault.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "expected '-' indicator"):
		return " (a line of the list that starts here is indented differently from its items)"
	case strings.Contains(msg, "did not find expected key"):
		return " (a line of the mapping that starts here is indented differently from its keys)"
	}
	return ""
}

// ptrEscaper escapes a key for a JSON pointer (RFC 6901).
var ptrEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// keySuffix marks the position of a mapping key (rather than its value) in
// the position map: unknown fields are reported at their key.
const keySuffix = "@key"

type converter struct {
	file       string
	pos        map[string][2]int
	nodes      int
	lineOffset int
}

func (c *converter) fail(n *yaml.Node, ptr, format string, args ...any) error {
	return &InvalidError{Problems: []Problem{{File: c.file, Line: n.Line + c.lineOffset, Column: n.Column, Field: ptr, Message: fmt.Sprintf(format, args...)}}}
}

func (c *converter) value(n *yaml.Node, ptr string, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, c.fail(n, ptr, "the document expands to more than %d values (alias bomb?)", maxNodes)
	}
	if depth > maxDepth {
		return nil, c.fail(n, ptr, "nesting deeper than %d levels", maxDepth)
	}
	c.pos[ptr] = [2]int{n.Line + c.lineOffset, n.Column}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], ptr, depth)
	case yaml.AliasNode:
		return c.value(n.Alias, ptr, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind == yaml.AliasNode {
				kn = kn.Alias
			}
			if kn.Kind != yaml.ScalarNode {
				return nil, c.fail(kn, ptr, "keys must be plain strings")
			}
			if kn.Tag == "!!merge" {
				return nil, c.fail(kn, ptr, "merge keys (<<) are not supported; write the fields out")
			}
			key := kn.Value
			child := ptr + "/" + ptrEscaper.Replace(key)
			if _, dup := m[key]; dup {
				return nil, c.fail(kn, child, "field %q appears twice", key)
			}
			c.pos[child+keySuffix] = [2]int{kn.Line + c.lineOffset, kn.Column}
			v, err := c.value(vn, child, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			v, err := c.value(e, ptr+"/"+strconv.Itoa(i), depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, c.fail(n, ptr, "%v", err)
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, c.fail(n, ptr, "%v", err)
			}
			return i, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, c.fail(n, ptr, "%v", err)
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, c.fail(n, ptr, "%s is not a usable number", n.Value)
			}
			return f, nil
		case "!!str", "!!timestamp", "!!binary":
			return n.Value, nil
		default:
			return nil, c.fail(n, ptr, "unsupported YAML tag %s", n.Tag)
		}
	}
	return nil, c.fail(n, ptr, "unsupported YAML node")
}
