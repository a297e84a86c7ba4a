package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"

	invopop "github.com/invopop/jsonschema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/aima-dev/aima/schemas"
)

// schemaTypes maps schema file stems to the Go types they are generated from.
func schemaTypes() map[string]any {
	m := map[string]any{"settings": &Settings{}}
	for _, k := range Kinds {
		m[k.Name] = k.New()
	}
	return m
}

// GenerateSchemas renders the JSON Schema of every kind (and of aima.yaml,
// "settings") from the Go types, with the field doc comments read from the
// Go sources in srcDir (the state package directory). The result, keyed by
// file name, is what schemas/ must contain.
func GenerateSchemas(srcDir string) (map[string][]byte, error) {
	r := &invopop.Reflector{ExpandedStruct: true, DoNotReference: true}
	abs, err := filepath.Abs(srcDir)
	if err != nil {
		return nil, err
	}
	// AddGoComments wants a path relative to the module root, read from the
	// working directory; run it from the module root.
	root := filepath.Dir(abs)
	if err := withDir(root, func() error {
		return r.AddGoComments("github.com/aima-dev/aima", "./"+filepath.Base(abs))
	}); err != nil {
		return nil, fmt.Errorf("read doc comments: %w", err)
	}
	out := map[string][]byte{}
	for name, v := range schemaTypes() {
		s := r.Reflect(v)
		s.ID = invopop.ID(SchemaBase + name + ".json")
		s.Title = name
		if name != "settings" {
			s.Description = "aima " + name + ": " + s.Description
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		out[name+".json"] = buf.Bytes()
	}
	return out, nil
}

// Schemas are compiled lazily, one kind at a time: a CLI command that
// touches one kind pays for one schema, not all of them.
var (
	schemaMu sync.Mutex
	compiler *jsonschema.Compiler
	compiled = map[string]*jsonschema.Schema{}
)

func schemaFor(name string) (*jsonschema.Schema, error) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := compiled[name]; ok {
		return s, nil
	}
	if compiler == nil {
		// Schemas are self-contained (no $ref between files): adding the
		// one wanted is enough.
		compiler = jsonschema.NewCompiler()
	}
	f := name + ".json"
	b, err := fs.ReadFile(schemas.FS, f)
	if err != nil {
		return nil, fmt.Errorf("no schema for %s (run make generate)", name)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", f, err)
	}
	if err := compiler.AddResource(SchemaBase+f, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", f, err)
	}
	s, err := compiler.Compile(SchemaBase + f)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", f, err)
	}
	compiled[name] = s
	return s, nil
}

var printer = message.NewPrinter(language.Und)

// validate checks a generic value (as decoded from JSON) against the named
// schema and returns one Problem per leaf error. pos, when not nil, maps a
// JSON pointer to its line and column in the source file.
func validate(schemaName string, v any, file string, pos map[string][2]int) error {
	s, err := schemaFor(schemaName)
	if err != nil {
		return err
	}
	// Round-trip through JSON so numbers are json.Number, as the validator expects.
	b, err := json.Marshal(v)
	if err != nil {
		return invalid(file, "", "%v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return invalid(file, "", "%v", err)
	}
	verr := s.Validate(doc)
	if verr == nil {
		return nil
	}
	ve, ok := verr.(*jsonschema.ValidationError)
	if !ok {
		return invalid(file, "", "%v", verr)
	}
	var probs []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := pointer(e.InstanceLocation)
		p := Problem{File: file, Field: ptr, Message: ungroup(e.ErrorKind.LocalizedString(printer))}
		if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
			p.Schema = "/" + strings.Join(kp, "/")
		}
		switch k := e.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			// Point at the unknown key itself, and say it plainly.
			if len(k.Properties) > 0 {
				p.Field = ptr + "/" + k.Properties[0]
				p.Message = fmt.Sprintf("unknown field %q", strings.Join(k.Properties, `", "`))
			}
		case *kind.Required:
			p.Message = fmt.Sprintf("missing required field %q", strings.Join(k.Missing, `", "`))
			if len(k.Missing) == 1 {
				p.Field = ptr + "/" + k.Missing[0]
			}
		}
		if lc, ok := pos[p.Field+keySuffix]; ok && p.Field != ptr {
			p.Line, p.Column = lc[0], lc[1]
		} else if lc, ok := pos[p.Field]; ok {
			p.Line, p.Column = lc[0], lc[1]
		} else if lc, ok := pos[ptr]; ok {
			p.Line, p.Column = lc[0], lc[1]
		}
		probs = append(probs, p)
	}
	walk(ve)
	return &InvalidError{Problems: probs}
}

var groupRE = regexp.MustCompile(`(\d),(\d{3})\b`)

// ungroup undoes the printer's digit grouping (70,000 -> 70000): ports and
// sizes read better, and can be pasted back, without it.
func ungroup(s string) string {
	for groupRE.MatchString(s) {
		s = groupRE.ReplaceAllString(s, "$1$2")
	}
	return s
}

func pointer(loc []string) string {
	if len(loc) == 0 {
		return ""
	}
	esc := make([]string, len(loc))
	for i, s := range loc {
		esc[i] = ptrEscaper.Replace(s)
	}
	return "/" + strings.Join(esc, "/")
}

// typeName is used in messages about the Go type behind a kind.
func typeName(v any) string { return reflect.TypeOf(v).Elem().Name() }
