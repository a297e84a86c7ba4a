package unit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/aima-dev/aima/state"
)

// The create, list, get, update and delete of every file-backed kind:
// "model.create", "service.list", ... One implementation for the command
// line, the HTTP API, pipeline steps and every door built on them.

// IDRequest names one object: id or name (they are the same).
type IDRequest struct {
	// The object's name.
	ID string `json:"id,omitempty"`
	// The object's name (same as id).
	Name string `json:"name,omitempty"`
	// Refuse unless the object is still at this revision (from get or list).
	Revision string `json:"revision,omitempty"`
}

func (r IDRequest) name() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Name
}

// Deleted is the answer of a delete.
type Deleted struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Deleted bool   `json:"deleted"`
}

// ListAnswer is the answer of a list: {"items": [...], "total": N}.
type ListAnswer struct {
	Items []map[string]any `json:"items"`
	Total int              `json:"total"`
}

func addCRUD(r *Registry) {
	for _, k := range state.Kinds {
		obj := reflect.TypeOf(k.New()).Elem()
		a := article(k.Name)
		create := Unit{Name: k.Name + ".create", Description: fmt.Sprintf("Create %s %s: write %s/<name>%s and commit it", a, k.Name, k.Dir, k.Ext),
			Request: obj, Response: obj, Run: createUnit(k)}
		if k == state.KindService {
			create.Description += "; the name is derived (<model>-<engine>) and a port allocated when not given"
			create.RequestSchema = serviceCreateSchema(obj)
		}
		r.Add(create)
		r.Add(Unit{Name: k.Name + ".list", Description: fmt.Sprintf("List the %s objects (files and built-ins), with observed status where there is one", k.Name),
			Read: true, Request: reflect.TypeFor[struct{}](), Response: reflect.TypeFor[ListAnswer](), Run: listUnit(k)})
		r.Add(Typed(Unit{Name: k.Name + ".get", Description: fmt.Sprintf("Show one %s", k.Name), Read: true},
			func(ctx context.Context, env *Env, req IDRequest) (map[string]any, error) {
				return getObject(ctx, env, k, req.name())
			}))
		r.Add(Unit{Name: k.Name + ".update", Description: fmt.Sprintf("Change %s %s: the given fields (a JSON merge patch: null removes one); built-ins get an override file", a, k.Name),
			Request: obj, RequestSchema: patchSchema(obj), Response: obj, Run: updateUnit(k)})
		r.Add(Typed(Unit{Name: k.Name + ".delete", Description: fmt.Sprintf("Delete %s %s (its file; one commit)", a, k.Name)},
			func(ctx context.Context, env *Env, req IDRequest) (Deleted, error) {
				return deleteObject(ctx, env, k, req)
			}))
	}
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// patchSchema is an object type's schema as an update takes it: any of its
// fields, only name required, revision allowed.
func patchSchema(obj reflect.Type) *jsonschema.Schema {
	s := Schema(obj)
	s.Required = []string{"name"}
	s.Properties.Set("revision", &jsonschema.Schema{Type: "string", Description: "Refuse unless the object is still at this revision (from get or list)."})
	s.Properties.Set("file", &jsonschema.Schema{Type: "string", Description: "Instead of fields: the whole object as its file holds it (YAML or JSON text), replacing it; validated as the file is, problems naming line and field."})
	return s
}

// serviceCreateSchema adds the scenario's aliases (model_id, engine_type)
// to the service schema; model and engine (or their aliases) are needed,
// name is derived when absent.
func serviceCreateSchema(obj reflect.Type) *jsonschema.Schema {
	s := Schema(obj)
	s.Required = nil
	s.Properties.Set("model_id", &jsonschema.Schema{Type: "string", Description: "Same as model."})
	s.Properties.Set("engine_type", &jsonschema.Schema{Type: "string", Description: "Same as engine: an engine name or type such as vllm or stub."})
	return s
}

// readOnly lists the fields that list and get add to an object and that a
// client may send back unchanged: they are dropped from requests, so
// get → edit → update round-trips. ("source" is an object field of models,
// so it is read-only only for the kinds whose entries carry it.)
func readOnly(k *state.Kind) []string {
	out := []string{"problems", "revision"}
	if k.HasBuiltins() {
		out = append(out, "source")
	}
	if k == state.KindService || k == state.KindApp {
		out = append(out, "status", "reason", "container", "endpoint", "health", "restarts", "since", "drift")
	}
	return out
}

// normalize turns parameters into the object's fields: "kind" must match,
// "id" is the name, read-only fields are dropped.
func normalize(k *state.Kind, m map[string]any) error {
	if v, ok := m["kind"]; ok {
		word, _ := v.(string)
		if kk, err := state.LookupKind(word); err != nil || kk != k {
			return invalidField("/kind", "kind %v does not match the domain %q", jsonString(v), k.Name)
		}
		delete(m, "kind")
	}
	if v, ok := m["id"]; ok {
		if n, has := m["name"]; !has {
			m["name"] = v
		} else if n != v {
			return invalidField("/id", "id %v and name %v differ; an object's id is its name", jsonString(v), jsonString(n))
		}
		delete(m, "id")
	}
	for _, f := range readOnly(k) {
		delete(m, f)
	}
	return nil
}

// serviceFields applies the service forms of the scenario (`service create
// --model-id M --engine-type E`): model_id and engine_type stand for model
// and engine, and the engine may be given by name or by type.
func serviceFields(st *state.Store, m map[string]any, create bool) error {
	for alias, field := range map[string]string{"model_id": "model", "engine_type": "engine"} {
		if v, ok := m[alias]; ok {
			m[field] = v
			delete(m, alias)
		}
	}
	for _, f := range []string{"model", "engine"} {
		if v, ok := m[f]; ok && v != nil {
			if _, isString := v.(string); !isString {
				return invalidField("/"+f, "%s must be a string (a name), not %s", f, jsonString(v))
			}
		}
	}
	if create {
		if m["model"] == nil || m["model"] == "" {
			return invalidField("/model", "model (or model_id) is required: the name of the model to serve")
		}
		if m["engine"] == nil || m["engine"] == "" {
			return invalidField("/engine", "engine (or engine_type) is required: an engine name or type such as vllm or stub")
		}
	}
	if word, ok := m["engine"].(string); ok && word != "" {
		name, err := st.ResolveEngine(word)
		if err != nil {
			return err
		}
		m["engine"] = name
	}
	return nil
}

// deriveRetries bounds how often a derived service name is derived again
// when a concurrent writer took it first.
const deriveRetries = 100

func createUnit(k *state.Kind) func(context.Context, *Env, map[string]any) (map[string]any, error) {
	return func(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
		m := copyMap(p)
		delete(m, "revision") // a new object has none yet
		if err := normalize(k, m); err != nil {
			return nil, err
		}
		derive := false
		if k == state.KindService {
			if err := serviceFields(env.Store, m, true); err != nil {
				return nil, err
			}
			model, _ := m["model"].(string)
			_, engine := m["engine"].(string)
			derive = m["name"] == nil && state.ValidName(model) && engine
		}
		if m["name"] == nil && !derive {
			return nil, invalidField("/name", "name is required")
		}
		var e state.Entry
		// A derived service name is taken under the write lock, and derived
		// again if another writer created that name meanwhile.
		for attempt := 0; ; attempt++ {
			if derive {
				m["name"] = env.Store.ServiceName(m["model"].(string), m["engine"].(string))
			}
			obj, err := k.FromMap(m)
			if err != nil {
				return nil, err
			}
			if svc, ok := obj.(*state.Service); ok && svc.State != "stopped" && attempt == 0 {
				if err := serviceFits(ctx, env, svc); err != nil {
					return nil, fmt.Errorf("%w (create it with state stopped, then start it with force, to try anyway)", err)
				}
			}
			e, err = env.Store.Create(k, obj)
			if derive && errors.Is(err, state.ErrExists) && attempt < deriveRetries {
				continue
			}
			if err != nil {
				return nil, err
			}
			break
		}
		env.kick()
		return item(env.observed(ctx), k, e), nil
	}
}

func listUnit(k *state.Kind) func(context.Context, *Env, map[string]any) (map[string]any, error) {
	return func(ctx context.Context, env *Env, _ map[string]any) (map[string]any, error) {
		entries, err := env.Store.List(k)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Name, err)
		}
		items := make([]map[string]any, 0, len(entries))
		obs := env.observed(ctx)
		for _, e := range entries {
			items = append(items, item(obs, k, e))
		}
		return List(items), nil
	}
}

func getObject(ctx context.Context, env *Env, k *state.Kind, name string) (map[string]any, error) {
	if name == "" {
		return nil, invalidField("/id", "id (or name) is required: the object to show")
	}
	e, err := env.Store.Get(k, name)
	if err != nil {
		return nil, err
	}
	if e.Object == nil || (e.Problem != nil && e.Revision == "") {
		return nil, fmt.Errorf("%s %q has no valid version: %w", k.Name, name, e.Problem)
	}
	return item(env.observed(ctx), k, e), nil
}

func updateUnit(k *state.Kind) func(context.Context, *Env, map[string]any) (map[string]any, error) {
	return func(ctx context.Context, env *Env, p map[string]any) (map[string]any, error) {
		patch := copyMap(p)
		if text, ok := patch["file"]; ok {
			return updateFile(ctx, env, k, patch, text)
		}
		rev := ""
		if v, ok := patch["revision"]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return nil, invalidField("/revision", "revision must be a string (the revision field of get or list), not %s", jsonString(v))
			}
			rev = s
		}
		if err := normalize(k, patch); err != nil {
			return nil, err
		}
		name, _ := patch["name"].(string)
		if name == "" {
			return nil, invalidField("/name", "name (or id) is required: the object to update")
		}
		if k == state.KindService {
			if err := serviceFields(env.Store, patch, false); err != nil {
				return nil, err
			}
		}
		e, err := env.Store.Update(k, name, rev, func(cur state.Object) (state.Object, error) {
			m, err := genericJSON(cur)
			if err != nil {
				return nil, err
			}
			return k.FromMap(mergePatch(m, patch))
		})
		if err != nil {
			return nil, err
		}
		env.kick()
		return item(env.observed(ctx), k, e), nil
	}
}

// updateFile replaces an object with the content of its file, given as
// text (the web page's edit-as-YAML): the same decoding, validation and
// policy as a file the agent records, so a problem names its line and
// field; the object keeps its name.
func updateFile(ctx context.Context, env *Env, k *state.Kind, p map[string]any, text any) (map[string]any, error) {
	s, ok := text.(string)
	if !ok {
		return nil, invalidField("/file", "file must be the object's file content as a string, not %s", jsonString(text))
	}
	name, _ := p["name"].(string)
	if name == "" {
		name, _ = p["id"].(string)
	}
	if name == "" {
		return nil, invalidField("/name", "name (or id) is required: the object to update")
	}
	for f := range p {
		if f != "file" && f != "name" && f != "id" && f != "revision" && f != "kind" {
			return nil, invalidField("/"+f, "give either file or fields, not both")
		}
	}
	rev, _ := p["revision"].(string)
	obj, err := env.Store.Decode(k, k.Path(name), []byte(s))
	if err != nil {
		return nil, err
	}
	if got := obj.ObjectName(); got != "" && got != name {
		return nil, invalidField("/name", "the file names %q, but it is %s %q's file (a file's name is its object's)", got, k.Name, name)
	}
	e, err := env.Store.Update(k, name, rev, func(state.Object) (state.Object, error) { return obj, nil })
	if err != nil {
		return nil, err
	}
	env.kick()
	return item(env.observed(ctx), k, e), nil
}

func deleteObject(_ context.Context, env *Env, k *state.Kind, req IDRequest) (Deleted, error) {
	name := req.name()
	if name == "" {
		return Deleted{}, invalidField("/id", "id (or name) is required: the object to delete")
	}
	if err := env.Store.Delete(k, name, req.Revision); err != nil {
		return Deleted{}, err
	}
	env.kick()
	return Deleted{ID: name, Name: name, Kind: k.Name, Deleted: true}, nil
}

// item renders an entry as list and get show it: its fields, id, source,
// revision and problems, plus the observed fields of services and apps
// (which never hide a desired field).
func item(obs func(kind, name string) map[string]any, k *state.Kind, e state.Entry) map[string]any {
	m := e.Map()
	if _, ok := m["name"]; !ok {
		m["name"] = m["id"]
	}
	if obs != nil {
		name, _ := m["name"].(string)
		merge(m, obs(k.Name, name))
	}
	return m
}

// observed returns the lookup of observed fields for one call, deriving
// them on the first lookup of a service or app (never for other kinds).
func (e *Env) observed(ctx context.Context) func(kind, name string) map[string]any {
	var lookup func(kind, name string) map[string]any
	return func(kind, name string) map[string]any {
		if kind != state.KindService.Name && kind != state.KindApp.Name {
			return nil
		}
		if lookup == nil {
			switch {
			case e.Observed != nil:
				lookup = e.Observed(ctx)
			case e.Services != nil:
				lookup = func(kind, name string) map[string]any {
					st, _ := e.Services.Status(ctx, kind, name)
					return st
				}
			default:
				lookup = func(string, string) map[string]any { return nil }
			}
		}
		return lookup(kind, name)
	}
}

func invalidField(field, format string, args ...any) error {
	return &state.InvalidError{Problems: []state.Problem{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func copyMap(p map[string]any) map[string]any {
	m := make(map[string]any, len(p))
	for k, v := range p {
		m[k] = v
	}
	return m
}

// genericJSON renders v as a JSON object of generic values, with numbers as
// json.Number (exact).
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

// mergePatch applies patch to target as a JSON merge patch (RFC 7396):
// objects merge key by key, null removes a field, anything else replaces.
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for key, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, key)
		case map[string]any:
			tv, _ := target[key].(map[string]any)
			target[key] = mergePatch(tv, pv)
		default:
			target[key] = v
		}
	}
	return target
}
