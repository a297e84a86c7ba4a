package unit

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/aima-dev/aima/schemas"
)

// A unit is a tool for an AI client the same way everywhere: the MCP
// server (agent/mcp) and the operator (agent/operator) both name it with
// ToolName and describe its input with ToolInput, so the two offer the
// same tools.

// ToolName is the tool name of a unit: "model.list" is model_list (LLM
// APIs refuse dots in function names).
func ToolName(unitName string) string { return strings.ReplaceAll(unitName, ".", "_") }

// ToolInput is the unit's request schema as a tool's input schema (a JSON
// object); a unit documented by Params alone gets them as properties, so a
// model sees what to send.
func (u Unit) ToolInput() map[string]any {
	m := asMap(u.InputSchema())
	if m["type"] == nil {
		m["type"] = "object"
	}
	if _, ok := m["properties"]; !ok && len(u.Params) > 0 {
		props := map[string]any{}
		for name, doc := range u.Params {
			props[name] = map[string]any{"description": doc}
		}
		m["properties"] = props
	}
	delete(m, "$id")
	describe(m, u.Name)
	return m
}

// ToolOutput is the schema of a unit's typed answer, nil when the answer
// is any object. Answers carry more than their type (id, source,
// revision, observed status), so no object in it is closed.
func (u Unit) ToolOutput() map[string]any {
	t := u.Response
	if t == nil || t.Kind() != reflect.Struct || t.NumField() == 0 {
		return nil
	}
	m := asMap(Schema(t))
	open(m)
	delete(m, "$id")
	describe(m, u.Name)
	return m
}

// describe gives the properties of a schema that have no description the
// one of the same field in the JSON Schema of the unit's kind, when it is
// a kind ("service.create": schemas/service.json, whose descriptions are
// the Go types' doc comments): a model reads them to fill the fields.
func describe(m map[string]any, unitName string) {
	domain, _, _ := strings.Cut(unitName, ".")
	b, err := schemas.FS.ReadFile(domain + ".json")
	props, _ := m["properties"].(map[string]any)
	if err != nil || props == nil {
		return
	}
	var kind struct {
		Properties map[string]struct {
			Description string `json:"description"`
		} `json:"properties"`
	}
	if json.Unmarshal(b, &kind) != nil {
		return
	}
	for name, p := range props {
		if p, ok := p.(map[string]any); ok && p["description"] == nil && kind.Properties[name].Description != "" {
			p["description"] = kind.Properties[name].Description
		}
	}
}

func asMap(v any) map[string]any {
	b, err := json.Marshal(v)
	m := map[string]any{}
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// open removes every "additionalProperties": false.
func open(v any) {
	switch v := v.(type) {
	case map[string]any:
		if v["additionalProperties"] == false {
			delete(v, "additionalProperties")
		}
		for _, x := range v {
			open(x)
		}
	case []any:
		for _, x := range v {
			open(x)
		}
	}
}
