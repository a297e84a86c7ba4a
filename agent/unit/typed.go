package unit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/aima-dev/aima/state"
)

// Typed makes u run fn: the parameters are decoded into Req (a query
// string's "true" or "60" is taken for a bool or a number; a field Req does
// not have is refused, naming it) and fn's answer is encoded from Resp. The
// types are the unit's documentation: their JSON Schemas are what
// `aima pipeline units`, GET /api/unit/list and the OpenAPI document show.
func Typed[Req, Resp any](u Unit, fn func(ctx context.Context, env *Env, req Req) (Resp, error)) Unit {
	u.Request, u.Response = reflect.TypeFor[Req](), reflect.TypeFor[Resp]()
	u.Run = func(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
		var req Req
		if err := Decode(p, &req); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, env, req)
		if err != nil {
			return nil, err
		}
		return toAnswer(resp)
	}
	return u
}

// Decode fills the struct v points to from params: keys are the fields'
// JSON names; strings are converted for bool and number fields (query
// strings carry only strings); unknown keys are refused with their path.
func Decode(params map[string]any, v any) error {
	rv := reflect.ValueOf(v).Elem()
	fields := jsonFields(rv.Type())
	p := make(map[string]any, len(params))
	var probs []state.Problem
	for k, val := range params {
		f, ok := fields[k]
		if !ok {
			probs = append(probs, state.Problem{Field: "/" + k, Message: fmt.Sprintf("unknown parameter (known: %s)", strings.Join(sortedNames(fields), ", "))})
			continue
		}
		p[k] = coerce(f.Type, val)
	}
	if len(probs) > 0 {
		return &state.InvalidError{Problems: probs}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &state.InvalidError{Problems: []state.Problem{{Field: "/" + strings.ReplaceAll(te.Field, ".", "/"), Message: fmt.Sprintf("want %s, not %s", te.Type, te.Value)}}}
		}
		var fe *fieldError
		if errors.As(err, &fe) {
			return &state.InvalidError{Problems: []state.Problem{{Field: "/" + fe.field, Message: fe.msg}}}
		}
		return &state.InvalidError{Problems: []state.Problem{{Message: err.Error()}}}
	}
	return nil
}

// jsonFields maps the JSON names of a struct's fields to the fields
// (embedded structs flattened, as encoding/json does).
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func sortedNames(m map[string]reflect.StructField) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// coerce converts a string given for a bool or number field.
func coerce(t reflect.Type, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		if t == reflect.TypeFor[Duration]() {
			return s
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return v
}

// toAnswer renders a unit's typed answer as the generic map every door
// sends on.
func toAnswer(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// fieldError is a decoding error of a custom type, with its field.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// Duration is a duration parameter: a Go duration ("90s", "2m") or a
// number of seconds (60, "60"), as every door takes it.
type Duration time.Duration

// UnmarshalJSON takes "90s", "2m", 60 or "60".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	got, err := ParseDuration(v)
	if err != nil {
		return err
	}
	*d = Duration(got)
	return nil
}

// MarshalJSON writes the Go form ("1m30s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// JSONSchema says what Duration takes.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "string", Description: "a Go duration such as 90s or 2m, or a number of seconds", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)?)+$`},
		{Type: "number", Minimum: json.Number("0"), Description: "seconds"},
	}}
}

// ParseDuration reads a duration parameter: a string as
// state.ParseDuration takes it ("90s", "2m", "60"), or a JSON number of
// seconds.
func ParseDuration(v any) (time.Duration, error) {
	switch v := v.(type) {
	case json.Number:
		return state.ParseDuration(v.String())
	case float64:
		return state.ParseDuration(strconv.FormatFloat(v, 'f', -1, 64))
	case string:
		return state.ParseDuration(v)
	}
	return 0, fmt.Errorf("want seconds such as 60, or a duration such as 90s or 2m, not %v", v)
}

// Schema is the JSON Schema of a unit's request or response type (nil
// type: any object).
func Schema(t reflect.Type) *jsonschema.Schema {
	if t == nil || t == reflect.TypeFor[map[string]any]() {
		return &jsonschema.Schema{Type: "object"}
	}
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, AllowAdditionalProperties: false}
	s := r.ReflectFromType(t)
	s.Version = ""
	return s
}

// Answer renders a typed answer as the generic map the doors send (what a
// unit returns): `-o json` of a command printing a unit's typed result is
// then the body of its HTTP route.
func Answer(v any) (map[string]any, error) { return toAnswer(v) }
