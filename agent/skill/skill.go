// Package skill searches the skills (built-in and skills/<name>.md) and
// turns them on and off. Enabling and disabling are file edits through
// state.Store, so they are commits and survive restarts like any change.
package skill

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aima-dev/aima/state"
)

// Points per query term by where it is found: a hit on the name or a
// keyword says much more than one in the body.
const (
	pointsNameExact    = 100
	pointsName         = 50
	pointsKeywordExact = 40
	pointsKeyword      = 30
	pointsDescription  = 20
	pointsCategory     = 10
	pointsContent      = 5
)

// Hit is a skill that matches a query.
type Hit struct {
	Entry   state.Entry
	Skill   *state.Skill
	Score   int
	Matched []string // the fields that matched: name, keywords, description, category, content
}

// Enabled reports whether a skill is used (enabled is true by default).
func Enabled(s *state.Skill) bool { return s.Enabled == nil || *s.Enabled }

// Search ranks the enabled skills that match query: every term scores where
// it is found (see the points above); skills matching no term are left out.
// Ties go to the higher priority, then the name.
func Search(st *state.Store, query string) ([]Hit, error) {
	terms := strings.Fields(strings.ToLower(query))
	if len(terms) == 0 {
		return nil, &state.InvalidError{Problems: []state.Problem{{Field: "/query", Message: "a search query is required"}}}
	}
	entries, err := st.List(state.KindSkill)
	if err != nil {
		return nil, err
	}
	hits := []Hit{}
	for _, e := range entries {
		s, ok := e.Object.(*state.Skill)
		if !ok || e.Problem != nil && s.Description == "" && s.Content == "" || !Enabled(s) {
			continue
		}
		h := Hit{Entry: e, Skill: s}
		matched := map[string]bool{}
		hit := func(field string, points int) {
			h.Score += points
			matched[field] = true
		}
		name := strings.ToLower(s.Name)
		for _, t := range terms {
			switch {
			case name == t:
				hit("name", pointsNameExact)
			case strings.Contains(name, t):
				hit("name", pointsName)
			}
			kw := 0
			for _, k := range s.Keywords {
				k = strings.ToLower(k)
				if k == t {
					kw = max(kw, pointsKeywordExact)
				} else if strings.Contains(k, t) {
					kw = max(kw, pointsKeyword)
				}
			}
			if kw > 0 {
				hit("keywords", kw)
			}
			if strings.Contains(strings.ToLower(s.Description), t) {
				hit("description", pointsDescription)
			}
			if strings.Contains(strings.ToLower(s.Category), t) {
				hit("category", pointsCategory)
			}
			if strings.Contains(strings.ToLower(s.Content), t) {
				hit("content", pointsContent)
			}
		}
		if h.Score == 0 {
			continue
		}
		for _, f := range []string{"name", "keywords", "description", "category", "content"} {
			if matched[f] {
				h.Matched = append(h.Matched, f)
			}
		}
		hits = append(hits, h)
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if a.Skill.Priority != b.Skill.Priority {
			return a.Skill.Priority > b.Skill.Priority
		}
		return a.Skill.Name < b.Skill.Name
	})
	return hits, nil
}

// SetEnabled enables or disables a skill as a file edit committed as
// "skill enable|disable: <name>"; a built-in gets an override file. A skill
// already in that state commits nothing.
func SetEnabled(st *state.Store, name string, on bool) (state.Entry, error) {
	verb := "enable"
	if !on {
		verb = "disable"
	}
	e, err := st.Get(state.KindSkill, name)
	if err != nil {
		return e, err
	}
	if s, ok := e.Object.(*state.Skill); ok && Enabled(s) == on {
		return e, nil
	}
	return st.UpdateMessage(state.KindSkill, name, "", fmt.Sprintf("skill %s: %s", verb, name), func(o state.Object) (state.Object, error) {
		s := o.(*state.Skill)
		if on {
			s.Enabled = nil // the default
		} else {
			off := false
			s.Enabled = &off
		}
		return s, nil
	})
}
