package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aima-dev/aima/state"
)

// readOnly lists the fields that list and get add to an object and that a
// client may send back unchanged: they are dropped from request bodies, so
// get → edit → update round-trips. ("source" is an object field of models,
// so it is read-only only for the kinds whose entries carry it.)
func readOnly(k *state.Kind) []string {
	if k == state.KindEngine || k == state.KindSkill {
		return []string{"source", "problems"}
	}
	return []string{"problems"}
}

// normalize turns a request body into the object's fields: "kind" must
// match, "id" is the name, read-only fields are dropped.
func normalize(k *state.Kind, m map[string]any) error {
	if v, ok := m["kind"]; ok {
		word, _ := v.(string)
		if kk, err := state.LookupKind(word); err != nil || kk != k {
			return invalidField("/kind", "kind %v does not match the route's domain %q", jsonString(v), k.Name)
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

// serviceFields applies the service create forms of the CLI (`aima service
// create --model-id M --engine-type E`): model_id and engine_type stand for
// model and engine, and the engine may be given by name or by type.
func (s *Server) serviceFields(m map[string]any, create bool) error {
	for alias, field := range map[string]string{"model_id": "model", "engine_type": "engine"} {
		if v, ok := m[alias]; ok {
			m[field] = v
			delete(m, alias)
		}
	}
	if create {
		if m["model"] == nil {
			return invalidField("/model", "model (or model_id) is required: the name of the model to serve")
		}
		if m["engine"] == nil {
			return invalidField("/engine", "engine (or engine_type) is required: an engine name or type such as vllm or stub")
		}
	}
	if word, ok := m["engine"].(string); ok && word != "" {
		name, err := s.st.ResolveEngine(word)
		if err != nil {
			return err
		}
		m["engine"] = name
	}
	return nil
}

func invalidField(field, format string, args ...any) error {
	return &state.InvalidError{Problems: []state.Problem{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *Server) create(k *state.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, err := decodeBody(r, false)
		if err != nil {
			WriteError(w, err)
			return
		}
		delete(m, "revision") // a new object has none yet
		if err := normalize(k, m); err != nil {
			WriteError(w, err)
			return
		}
		derive := false
		if k == state.KindService {
			if err := s.serviceFields(m, true); err != nil {
				WriteError(w, err)
				return
			}
			model, _ := m["model"].(string)
			_, engine := m["engine"].(string)
			derive = m["name"] == nil && state.ValidName(model) && engine
		}
		var e state.Entry
		err = s.Write(r, func(st *state.Store) error {
			// A derived service name is taken under the author lock, and
			// taken again if a CLI process created that name meanwhile.
			for attempt := 0; ; attempt++ {
				if derive {
					m["name"] = st.ServiceName(m["model"].(string), m["engine"].(string))
				}
				obj, err := k.FromMap(m)
				if err != nil {
					return err
				}
				e, err = st.Create(k, obj)
				if derive && errors.Is(err, state.ErrExists) && attempt < 5 {
					continue
				}
				return err
			}
		})
		if err != nil {
			WriteError(w, err)
			return
		}
		name := e.Object.ObjectName()
		w.Header().Set("Location", "/api/"+k.Name+"/get?id="+name)
		setETag(w, e.Revision)
		WriteJSON(w, http.StatusCreated, s.item(s.observed(r.Context()), k, e))
	}
}

func (s *Server) list(k *state.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		entries, err := s.st.List(k)
		if err != nil {
			WriteError(w, fmt.Errorf("list %s: %w", k.Name, err))
			return
		}
		items := make([]map[string]any, 0, len(entries))
		obs := s.observed(r.Context())
		for _, e := range entries {
			items = append(items, s.item(obs, k, e))
		}
		WriteJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	}
}

func (s *Server) get(k *state.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := queryID(r)
		if name == "" {
			WriteError(w, errorf(http.StatusBadRequest, "bad_request", "id is required: GET /api/%s/get?id=NAME", k.Name))
			return
		}
		e, err := s.st.Get(k, name)
		if err != nil {
			WriteError(w, err)
			return
		}
		setETag(w, e.Revision)
		WriteJSON(w, http.StatusOK, s.item(s.observed(r.Context()), k, e))
	}
}

func (s *Server) update(k *state.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		patch, err := decodeBody(r, false)
		if err != nil {
			WriteError(w, err)
			return
		}
		rev, err := revisionOf(r, patch)
		if err != nil {
			WriteError(w, err)
			return
		}
		if err := normalize(k, patch); err != nil {
			WriteError(w, err)
			return
		}
		name, _ := patch["name"].(string)
		if name == "" {
			name = queryID(r)
		}
		if name == "" {
			WriteError(w, invalidField("/name", "name (or id) is required: the object to update"))
			return
		}
		if k == state.KindService {
			if err := s.serviceFields(patch, false); err != nil {
				WriteError(w, err)
				return
			}
		}
		var e state.Entry
		err = s.Write(r, func(st *state.Store) error {
			var err error
			e, err = st.Update(k, name, rev, func(cur state.Object) (state.Object, error) {
				m, err := toMap(cur)
				if err != nil {
					return nil, err
				}
				return k.FromMap(mergePatch(m, patch))
			})
			return err
		})
		if err != nil {
			WriteError(w, err)
			return
		}
		setETag(w, e.Revision)
		WriteJSON(w, http.StatusOK, s.item(s.observed(r.Context()), k, e))
	}
}

func (s *Server) delete(k *state.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := decodeBody(r, true)
		if err != nil {
			WriteError(w, err)
			return
		}
		rev, err := revisionOf(r, body)
		if err != nil {
			WriteError(w, err)
			return
		}
		if err := normalize(k, body); err != nil {
			WriteError(w, err)
			return
		}
		name, _ := body["name"].(string)
		if name == "" {
			name = queryID(r)
		}
		if name == "" {
			WriteError(w, invalidField("/id", "id (or name) is required: the object to delete"))
			return
		}
		if err := s.Write(r, func(st *state.Store) error { return st.Delete(k, name, rev) }); err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"id": name, "name": name, "kind": k.Name, "deleted": true})
	}
}

// item renders an entry for list and get: its fields, id, source and
// revision, plus the observed fields of services and apps. Observed fields
// never hide a desired one.
func (s *Server) item(obs func(kind, name string) map[string]any, k *state.Kind, e state.Entry) map[string]any {
	m := e.Map()
	if _, ok := m["id"]; !ok && e.Object != nil {
		m["id"] = e.Object.ObjectName()
	}
	if _, ok := m["name"]; !ok {
		m["name"] = m["id"]
	}
	name, _ := m["name"].(string)
	addMissing(m, obs(k.Name, name))
	return m
}

func queryID(r *http.Request) string {
	q := r.URL.Query()
	if id := q.Get("id"); id != "" {
		return id
	}
	return q.Get("name")
}

// revisionOf takes the expected revision from the body's "revision" field
// (removed from the body: it is not an object field) or the If-Match header.
func revisionOf(r *http.Request, body map[string]any) (string, error) {
	if v, ok := body["revision"]; ok {
		delete(body, "revision")
		if v == nil {
			return "", nil
		}
		rev, ok := v.(string)
		if !ok {
			return "", invalidField("/revision", "revision must be a string (the revision field of get or list), not %s", jsonType(v))
		}
		return rev, nil
	}
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "*" {
		return "", nil
	}
	return strings.Trim(strings.TrimPrefix(h, "W/"), `"`), nil
}

func setETag(w http.ResponseWriter, rev string) {
	if rev != "" {
		w.Header().Set("ETag", `"`+rev+`"`)
	}
}

// toMap renders an object as generic JSON values, keeping numbers exact.
func toMap(o state.Object) (map[string]any, error) {
	m, err := genericJSON(o)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", o.ObjectName(), err)
	}
	return m, nil
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
