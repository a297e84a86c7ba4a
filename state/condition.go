package state

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Alert conditions are a small expression language:
//
//	gpu_temp > 80
//	service_down("qwen") or mem_used_pct > 90
//	not (cpu_pct < 50) and service_restarts("chat") >= 3
//
// Comparisons (> >= < <= == !=) of metrics and numbers, and/or/not,
// parentheses, and functions of a service name. ParseCondition checks
// syntax and names; the agent evaluates (package agent/alert).

// Metrics are the names a condition can compare. GPU metrics are the
// maximum over the host's GPUs and are absent (the comparison is false) on a
// host without one.
var Metrics = map[string]string{
	"gpu_temp":         "GPU temperature, °C (hottest GPU)",
	"gpu_util":         "GPU utilisation, % (busiest GPU)",
	"gpu_mem_used_pct": "GPU memory used, % (fullest GPU)",
	"gpu_count":        "number of NVIDIA GPUs",
	"mem_used_pct":     "host memory used, %",
	"mem_available_gb": "host memory available, GB",
	"cpu_pct":          "host CPU busy, % (since the previous evaluation)",
	"load1":            "1-minute load average",
	"services_failed":  "number of services whose status is failed or unhealthy",
	"services_running": "number of services whose status is running",
}

// Functions are the condition functions; each takes one service name.
var Functions = map[string]string{
	"service_down":     "true when the service is stopped, failed, unhealthy, unknown or missing (pending, creating and starting are on their way up, not down)",
	"service_up":       "true when the service is running (healthy)",
	"service_failed":   "true when the service is failed or unhealthy",
	"service_restarts": "how many times aima restarted the service's container",
}

// Expr is a parsed condition.
type Expr struct {
	Op    string // "or", "and", "not", ">", ..., "num", "metric", "call"
	Left  *Expr  // operands (not: Left only)
	Right *Expr
	Num   float64 // num
	Name  string  // metric or function name
	Arg   string  // call argument (a service name)
	Pos   int     // 1-based column in the source
}

// Services returns the service names the condition refers to.
func (e *Expr) Services() []string {
	if e == nil {
		return nil
	}
	var out []string
	if e.Op == "call" {
		out = append(out, e.Arg)
	}
	return append(append(out, e.Left.Services()...), e.Right.Services()...)
}

// ConditionError is a syntax or name error, with its 1-based column.
type ConditionError struct {
	Pos int
	Msg string
}

func (e *ConditionError) Error() string { return fmt.Sprintf("column %d: %s", e.Pos, e.Msg) }

type token struct {
	kind string // num, ident, str, op, (, ), ",", eof
	text string
	pos  int
}

func lexCondition(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, token{string(c), string(c), i + 1})
			i++
		case strings.ContainsRune("<>=!", c):
			op := string(c)
			if i+1 < len(s) && s[i+1] == '=' {
				op += "="
			}
			if op == "=" || op == "!" {
				return nil, &ConditionError{i + 1, fmt.Sprintf("%q is not an operator (use ==, !=, >, >=, <, <=)", op)}
			}
			toks = append(toks, token{"op", op, i + 1})
			i += len(op)
		case c == '"' || c == '\'':
			j := strings.IndexRune(s[i+1:], c)
			if j < 0 {
				return nil, &ConditionError{i + 1, "unterminated string"}
			}
			toks = append(toks, token{"str", s[i+1 : i+1+j], i + 1})
			i += j + 2
		case unicode.IsDigit(c) || c == '.':
			j := i
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.') {
				j++
			}
			toks = append(toks, token{"num", s[i:j], i + 1})
			i = j
			if i < len(s) && s[i] == '%' {
				i++ // 90% reads as 90
			}
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_') {
				j++
			}
			word := s[i:j]
			switch strings.ToLower(word) {
			case "and", "or", "not":
				toks = append(toks, token{"op", strings.ToLower(word), i + 1})
			default:
				toks = append(toks, token{"ident", word, i + 1})
			}
			i = j
		case c == '&' || c == '|':
			if i+1 < len(s) && s[i+1] == s[i] {
				op := map[rune]string{'&': "and", '|': "or"}[c]
				toks = append(toks, token{"op", op, i + 1})
				i += 2
				continue
			}
			return nil, &ConditionError{i + 1, fmt.Sprintf("unexpected %q", c)}
		default:
			return nil, &ConditionError{i + 1, fmt.Sprintf("unexpected %q", c)}
		}
	}
	return append(toks, token{"eof", "", len(s) + 1}), nil
}

type condParser struct {
	toks []token
	i    int
}

func (p *condParser) peek() token { return p.toks[p.i] }
func (p *condParser) next() token { t := p.toks[p.i]; p.i++; return t }

// ParseCondition parses and checks an alert condition. It must be a
// boolean expression over known metrics and functions.
func ParseCondition(s string) (*Expr, error) {
	toks, err := lexCondition(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, &ConditionError{1, "empty condition"}
	}
	p := &condParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, &ConditionError{t.pos, fmt.Sprintf("unexpected %q", t.text)}
	}
	if !boolean(e) {
		return nil, &ConditionError{e.Pos, "the condition must be true or false: compare it (e.g. gpu_temp > 80)"}
	}
	return e, nil
}

func boolean(e *Expr) bool {
	switch e.Op {
	case "or", "and", "not", ">", ">=", "<", "<=", "==", "!=":
		return true
	case "call":
		return e.Name != "service_restarts"
	}
	return false
}

func (p *condParser) or() (*Expr, error) {
	l, err := p.and()
	for err == nil && p.peek().text == "or" {
		t := p.next()
		var r *Expr
		if r, err = p.and(); err == nil {
			if !boolean(l) || !boolean(r) {
				return nil, &ConditionError{t.pos, "or needs true/false on both sides"}
			}
			l = &Expr{Op: "or", Left: l, Right: r, Pos: t.pos}
		}
	}
	return l, err
}

func (p *condParser) and() (*Expr, error) {
	l, err := p.not()
	for err == nil && p.peek().text == "and" {
		t := p.next()
		var r *Expr
		if r, err = p.not(); err == nil {
			if !boolean(l) || !boolean(r) {
				return nil, &ConditionError{t.pos, "and needs true/false on both sides"}
			}
			l = &Expr{Op: "and", Left: l, Right: r, Pos: t.pos}
		}
	}
	return l, err
}

func (p *condParser) not() (*Expr, error) {
	if t := p.peek(); t.text == "not" {
		p.next()
		e, err := p.not()
		if err != nil {
			return nil, err
		}
		if !boolean(e) {
			return nil, &ConditionError{t.pos, "not needs something true/false"}
		}
		return &Expr{Op: "not", Left: e, Pos: t.pos}, nil
	}
	return p.cmp()
}

func (p *condParser) cmp() (*Expr, error) {
	l, err := p.primary()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == "op" && strings.ContainsAny(t.text, "<>=!") {
		p.next()
		r, err := p.primary()
		if err != nil {
			return nil, err
		}
		if boolean(l) || boolean(r) {
			return nil, &ConditionError{t.pos, fmt.Sprintf("%s compares numbers", t.text)}
		}
		return &Expr{Op: t.text, Left: l, Right: r, Pos: t.pos}, nil
	}
	return l, nil
}

func (p *condParser) primary() (*Expr, error) {
	t := p.next()
	switch t.kind {
	case "num":
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, &ConditionError{t.pos, fmt.Sprintf("%q is not a number", t.text)}
		}
		return &Expr{Op: "num", Num: f, Pos: t.pos}, nil
	case "(":
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ")" {
			return nil, &ConditionError{c.pos, "missing )"}
		}
		return e, nil
	case "ident":
		if p.peek().kind == "(" {
			if _, ok := Functions[t.text]; !ok {
				return nil, &ConditionError{t.pos, fmt.Sprintf("unknown function %q (known: %s)", t.text, keys(Functions))}
			}
			p.next()
			arg := p.next()
			if arg.kind != "str" {
				return nil, &ConditionError{arg.pos, fmt.Sprintf("%s takes a service name in quotes, e.g. %s(\"chat\")", t.text, t.text)}
			}
			if !ValidName(arg.text) {
				return nil, &ConditionError{arg.pos, fmt.Sprintf("%q is not a valid service name", arg.text)}
			}
			if c := p.next(); c.kind != ")" {
				return nil, &ConditionError{c.pos, "missing ) after the service name"}
			}
			return &Expr{Op: "call", Name: t.text, Arg: arg.text, Pos: t.pos}, nil
		}
		if _, ok := Metrics[t.text]; !ok {
			return nil, &ConditionError{t.pos, fmt.Sprintf("unknown metric %q (known: %s)", t.text, keys(Metrics))}
		}
		return &Expr{Op: "metric", Name: t.text, Pos: t.pos}, nil
	case "eof":
		return nil, &ConditionError{t.pos, "the condition ends too early"}
	}
	return nil, &ConditionError{t.pos, fmt.Sprintf("unexpected %q", t.text)}
}

func keys(m map[string]string) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return strings.Join(out, ", ")
}
