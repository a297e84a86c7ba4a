package api

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/aima-dev/aima/state"
)

// The create, list, get, update and delete of the file-backed kinds are
// operations of the registry (agent/unit), served through Options.Verbs
// like every other operation.

func invalidField(field, format string, args ...any) error {
	return &state.InvalidError{Problems: []state.Problem{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// genericJSON renders v as a JSON object of generic values, with numbers as
// json.Number.
func genericJSON(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
