package state

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// Engine args are Go text/templates, but only a bounded subset of the
// language: an argument is text, references to the four fields an engine
// needs ({{.Port}}, {{.ModelPath}}, {{.ModelName}}, {{.Repo}}) and
// {{if .Field}}...{{else}}...{{end}} over them (the built-in vLLM and SGLang
// engines choose between a mounted path and a repository that way).
// Nothing that loops ({{range}}), calls ({{template}}, {{block}},
// {{define}}, functions such as printf or len), binds variables or prints
// a literal is accepted: a 150-byte {{range N}} template once made an agent
// send Docker a 3 GB container config. Without loops the output is at most
// the template's text plus one field value per reference, and it is
// bounded again when it is rendered (MaxArgBytes, MaxArgsBytes).
const (
	// MaxArgBytes bounds one rendered argument (Linux refuses a single
	// argument over 128 KiB anyway).
	MaxArgBytes = 64 << 10
	// MaxArgsBytes bounds all the rendered arguments of one engine.
	MaxArgsBytes = 256 << 10
	// maxIfDepth bounds nested {{if}}s.
	maxIfDepth = 8
)

// ArgFields are the fields engine args may reference.
var ArgFields = []string{"Port", "ModelPath", "ModelName", "Repo", "TensorParallel", "Value"}

// ArgData is what engine args are rendered with.
type ArgData struct {
	Port      int    // the container port
	ModelPath string // where the model's path is mounted in the container ("" when it has none)
	ModelName string
	Repo      string // the model's repository at its source
	// TensorParallel is the number of GPUs of the container when it has
	// more than one (0 otherwise): vLLM's --tensor-parallel-size.
	TensorParallel int
	// Value is a config setting's value (in the engine's config templates).
	Value string
}

const argGrammar = "an engine argument holds text, {{.Port}}, {{.ModelPath}}, {{.ModelName}}, {{.Repo}}, {{.TensorParallel}}, {{.Value}} and {{if .Field}}...{{else}}...{{end}}"

// ParseArg parses one engine argument and refuses what the bounded subset
// does not allow (see MaxArgBytes), naming it and where it is.
func ParseArg(s string) (*template.Template, error) {
	if len(s) > MaxArgBytes {
		return nil, fmt.Errorf("%d bytes; an argument may have at most %d", len(s), MaxArgBytes)
	}
	t, err := template.New("arg").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad template: %v", strings.TrimPrefix(err.Error(), "template: "))
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("{{define}} and {{block}} are not allowed: %s", argGrammar)
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return t, nil
	}
	if err := checkArgNode(t.Tree, t.Tree.Root, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func checkArgNode(tree *parse.Tree, n parse.Node, depth int) error {
	refuse := func(what string) error {
		loc, _ := tree.ErrorContext(n)
		return fmt.Errorf("%s is not allowed (at %s): %s", what, strings.TrimPrefix(loc, "arg:"), argGrammar)
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkArgNode(tree, c, depth); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode, *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		if what := simpleField(n.Pipe); what != "" {
			return refuse(what)
		}
		return nil
	case *parse.IfNode:
		if depth >= maxIfDepth {
			return refuse(fmt.Sprintf("{{if}} nested more than %d deep", maxIfDepth))
		}
		if what := simpleField(n.Pipe); what != "" {
			return refuse("in {{if}}, " + what)
		}
		if err := checkArgNode(tree, n.List, depth+1); err != nil {
			return err
		}
		return checkArgNode(tree, n.ElseList, depth+1)
	case *parse.RangeNode:
		return refuse("{{range}} (a loop)")
	case *parse.WithNode:
		return refuse("{{with}}")
	case *parse.TemplateNode:
		return refuse("{{template}}")
	case *parse.BreakNode, *parse.ContinueNode:
		return refuse("{{" + n.String() + "}}")
	}
	return refuse(fmt.Sprintf("%q", n.String()))
}

// simpleField returns "" when the pipeline is one allowed field reference,
// else what it holds instead (for the message).
func simpleField(p *parse.PipeNode) string {
	if p == nil {
		return "an empty action"
	}
	if len(p.Decl) > 0 {
		return "a variable (" + p.String() + ")"
	}
	if len(p.Cmds) != 1 {
		return "a pipeline (" + p.String() + ")"
	}
	args := p.Cmds[0].Args
	if len(args) != 1 {
		return "a function call (" + p.String() + ")"
	}
	f, ok := args[0].(*parse.FieldNode)
	if !ok {
		switch a := args[0].(type) {
		case *parse.IdentifierNode:
			return "the function " + a.Ident
		case *parse.VariableNode:
			return "a variable (" + a.String() + ")"
		case *parse.DotNode:
			return "{{.}}"
		}
		return "{{" + p.String() + "}}"
	}
	if len(f.Ident) == 1 {
		for _, name := range ArgFields {
			if f.Ident[0] == name {
				return ""
			}
		}
	}
	return fmt.Sprintf("the field %s (the fields are .%s)", f.String(), strings.Join(ArgFields, ", ."))
}

// filePath is the engine's file, for problems found in a request body.
func (o *Engine) filePath() string {
	if ValidName(o.Name) {
		return KindEngine.Path(o.Name)
	}
	return ""
}

// errArgTooLong stops a rendering that outgrows its bound.
var errArgTooLong = errors.New("too long")

// boundedBuffer is a buffer that refuses to grow past max bytes.
type boundedBuffer struct {
	bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errArgTooLong
	}
	return b.Buffer.Write(p)
}

// ExpandArgs renders engine args with d. Each argument is parsed with
// ParseArg (a built-in, or a file committed before the rules, is held to
// them too) and its output is bounded by MaxArgBytes, all of them together
// by MaxArgsBytes. A template that renders to nothing gives no argument
// (a conditional flag that does not apply). An error names the argument
// ("args[2]: ...").
func ExpandArgs(args []string, d ArgData) ([]string, error) {
	out := make([]string, 0, len(args))
	total := 0
	for i, a := range args {
		if !strings.Contains(a, "{{") {
			if len(a) > MaxArgBytes {
				return nil, fmt.Errorf("args[%d]: %d bytes; an argument may have at most %d", i, len(a), MaxArgBytes)
			}
			if total += len(a); total > MaxArgsBytes {
				return nil, fmt.Errorf("args[%d]: the arguments come to more than %d bytes", i, MaxArgsBytes)
			}
			out = append(out, a)
			continue
		}
		t, err := ParseArg(a)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %v", i, err)
		}
		buf := &boundedBuffer{max: min(MaxArgBytes, MaxArgsBytes-total)}
		if err := t.Execute(buf, d); err != nil {
			if errors.Is(err, errArgTooLong) {
				if buf.max < MaxArgBytes {
					return nil, fmt.Errorf("args[%d]: the arguments come to more than %d bytes", i, MaxArgsBytes)
				}
				return nil, fmt.Errorf("args[%d]: renders to more than %d bytes", i, MaxArgBytes)
			}
			return nil, fmt.Errorf("args[%d]: %v", i, err)
		}
		total += buf.Len()
		if buf.Len() == 0 {
			continue // a conditional argument that does not apply ({{if .TensorParallel}}...)
		}
		out = append(out, buf.String())
	}
	return out, nil
}
