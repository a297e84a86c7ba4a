package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aima-dev/aima/state"
)

// ProfileTag marks the hardware profiles of the knowledge base: catalog
// entries without models whose engine_type is the engine `aima run`
// prefers on the hardware they describe.
const ProfileTag = "hardware-profile"

// RunRequest is what `aima run MODEL` asks for.
type RunRequest struct {
	Model   string // a recipe, a model of a recipe (qwen2.5-7b, qwen2.5:7b) or a model file
	Engine  string // an engine name or type; "" lets the hardware decide
	Service string // the service's name; "" reuses one of the model or names it after the model
}

// RunPlan is what `aima run` does: the recipe chosen for this machine, the
// model and service it writes (or reuses), and whether the weights are
// pulled first.
type RunPlan struct {
	Recipe        string   // "" when a model file is run without a recipe
	Profile       string   // the machine's hardware profile ("" when none matches)
	Why           []string // why this recipe and engine
	Model         *state.Model
	ModelExists   bool // a file of that name is kept as it is
	Service       *state.Service
	ServiceExists bool // an existing service is reused
	Engine        string
	EngineType    string
	EngineGPU     string
	Pull          bool // the weights are downloaded (http, huggingface) before the start
}

// PlanRun chooses how to run req.Model on host: among the recipes of the
// model (not the stub's unless asked for), the ones the hardware allows,
// ranked by Score, preferring the engine of the machine's hardware profile.
// It reads the store and writes nothing.
func PlanRun(st *state.Store, host Host, req RunRequest) (RunPlan, error) {
	var plan RunPlan
	all, err := st.List(state.KindCatalog)
	if err != nil {
		return plan, err
	}
	var recipes, profiles []*state.Recipe
	for _, e := range all {
		if r, ok := e.Object.(*state.Recipe); ok && r != nil && (e.Problem == nil || e.Revision != "") {
			if slices.Contains(r.Tags, ProfileTag) {
				profiles = append(profiles, r)
			} else if len(r.Models) > 0 {
				recipes = append(recipes, r)
			}
		}
	}
	if best, _ := Rank(profiles, host); len(best) > 0 {
		plan.Profile = best[0].Recipe.Name
		plan.Why = append(plan.Why, fmt.Sprintf("this machine is %s: %s", plan.Profile, strings.Join(best[0].Reasons, ", ")))
	}
	want := strings.TrimSpace(req.Model)
	if want == "" {
		return plan, state.FieldError("model", "required: a model such as tinyllama or qwen2.5-7b (aima catalog list shows them)")
	}
	candidates := recipesOf(recipes, want)

	engineType := ""
	if req.Engine != "" {
		if plan.Engine, err = st.ResolveEngine(req.Engine); err != nil {
			return plan, err
		}
		eng, err := load[*state.Engine](st, state.KindEngine, plan.Engine)
		if err != nil {
			return plan, err
		}
		engineType = eng.Type
	}

	var chosen *state.Recipe
	switch {
	case len(candidates) > 0:
		chosen, err = choose(candidates, host, engineType, profileEngine(profiles, plan.Profile), &plan)
		if err != nil {
			return plan, err
		}
	case st.Exists(state.KindModel, modelName(want)):
		m, err := load[*state.Model](st, state.KindModel, modelName(want))
		if err != nil {
			return plan, err
		}
		plan.Model, plan.ModelExists = m, true
		if engineType == "" {
			engineType = profileEngine(profiles, plan.Profile)
			if engineType == "" {
				return plan, state.FieldError("engine", "model %q has no recipe to choose an engine by: give one with --engine (aima engine list)", m.Name)
			}
			plan.Why = append(plan.Why, fmt.Sprintf("model %s has no recipe; %s is the engine of %s", m.Name, engineType, plan.Profile))
		}
	default:
		return plan, fmt.Errorf("model %q: %w: no recipe of the knowledge base and no model file has that name%s", want, state.ErrNotFound, suggest(recipes, want))
	}
	if chosen != nil {
		plan.Recipe = chosen.Name
		plan.Model = ModelOf(chosen, 0)
		if m, err := load[*state.Model](st, state.KindModel, plan.Model.Name); err == nil {
			plan.Model, plan.ModelExists = m, true
		}
		if engineType == "" {
			engineType = chosen.EngineType
		}
	}
	if plan.Engine == "" {
		if plan.Engine, err = st.ResolveEngine(engineType); err != nil {
			return plan, err
		}
	}
	eng, err := load[*state.Engine](st, state.KindEngine, plan.Engine)
	if err != nil {
		return plan, err
	}
	plan.EngineType, plan.EngineGPU = eng.Type, eng.GPU
	if err := plan.service(st, chosen, req.Service); err != nil {
		return plan, err
	}
	m := plan.Model
	plan.Pull = (m.Source == "http" || m.Source == "huggingface") && m.Path == "" && plan.EngineType != "stub"
	return plan, nil
}

// service reuses the service of the model (the named one, or any on the
// same engine) or makes one from the recipe.
func (plan *RunPlan) service(st *state.Store, r *state.Recipe, name string) error {
	services, err := st.List(state.KindService)
	if err != nil {
		return err
	}
	for _, e := range services {
		svc, ok := e.Object.(*state.Service)
		if !ok || svc == nil || (name != "" && svc.Name != name) {
			continue
		}
		if svc.Model == plan.Model.Name && svc.Engine == plan.Engine {
			plan.Service, plan.ServiceExists = svc, true
			return nil
		}
		if name != "" {
			return fmt.Errorf("service %q: %w: it serves model %s on engine %s, not %s on %s (choose another --name)", name, state.ErrExists, svc.Model, svc.Engine, plan.Model.Name, plan.Engine)
		}
	}
	if name == "" {
		name = plan.Model.Name
		if st.Exists(state.KindService, name) {
			name = st.ServiceName(plan.Model.Name, plan.Engine)
		}
	}
	if err := state.CheckName("name", name); err != nil {
		return err
	}
	if r == nil {
		plan.Service = &state.Service{Name: name, Model: plan.Model.Name, Engine: plan.Engine}
		return nil
	}
	if r.EngineType != plan.EngineType {
		// The stub serving another engine's recipe: the recipe's
		// settings are that engine's, not the stub's.
		plan.Service = &state.Service{Name: name, Model: plan.Model.Name, Engine: plan.Engine, Labels: map[string]string{"aima.recipe": r.Name}}
		return nil
	}
	svc, err := ServiceOf(r, name, plan.Engine)
	if err != nil {
		return err
	}
	svc.Model = plan.Model.Name
	plan.Service = svc
	return nil
}

// choose picks the recipe: of the engine type asked for (the stub can
// serve the model of any recipe), else the best the hardware allows,
// preferring the profile's engine.
func choose(candidates []*state.Recipe, host Host, engineType, preferred string, plan *RunPlan) (*state.Recipe, error) {
	if engineType != "" {
		var of []*state.Recipe
		for _, r := range candidates {
			if r.EngineType == engineType {
				of = append(of, r)
			}
		}
		switch {
		case len(of) > 0:
			candidates = of
		case engineType == "stub":
			// The stub loads no weights: any recipe's model will do.
			plan.Why = append(plan.Why, "the stub engine serves the model of "+candidates[0].Name+" (it loads no weights)")
			return candidates[0], nil
		default:
			return nil, state.FieldError("engine", "no recipe runs %s on %s (recipes: %s)", candidates[0].Models[0].Name, engineType, recipeNames(candidates))
		}
	} else {
		var real []*state.Recipe
		for _, r := range candidates {
			if r.EngineType != "stub" {
				real = append(real, r)
			}
		}
		if len(real) > 0 {
			candidates = real
		}
	}
	matches, excluded := Rank(candidates, host)
	if len(matches) == 0 && engineType != "" && host.VRAMGB > 0 {
		// The engine asked for on a GPU too small for its recipe: the
		// fit check gives the numbers (free memory), and --force goes on.
		matches = excluded[:1]
	}
	if len(matches) == 0 {
		var why []string
		for _, m := range excluded {
			why = append(why, m.Recipe.Name+": "+strings.Join(m.Reasons, ", "))
		}
		return nil, fmt.Errorf("%w: no recipe of %s fits this machine (%s)", state.ErrConflict, candidates[0].Models[0].Name, strings.Join(why, "; "))
	}
	best := matches[0]
	if engineType == "" && preferred != "" {
		for _, m := range matches {
			if m.Recipe.EngineType == preferred {
				best = m
				plan.Why = append(plan.Why, fmt.Sprintf("%s uses %s, the engine of this hardware profile", m.Recipe.Name, preferred))
				break
			}
		}
	}
	plan.Why = append(plan.Why, fmt.Sprintf("recipe %s (score %d): %s", best.Recipe.Name, best.Score, strings.Join(best.Reasons, ", ")))
	return best.Recipe, nil
}

// recipesOf are the recipes that run the model asked for: the recipe of
// that name, else those whose model has the name or a tag says it (an
// Ollama tag such as qwen2.5:7b).
func recipesOf(recipes []*state.Recipe, want string) []*state.Recipe {
	for _, r := range recipes {
		if r.Name == want {
			return []*state.Recipe{r}
		}
	}
	name := modelName(want)
	var out []*state.Recipe
	for _, r := range recipes {
		if r.Models[0].Name == name || slices.Contains(r.Tags, want) {
			out = append(out, r)
		}
	}
	return out
}

// modelName turns an Ollama-style name into a model name: qwen2.5:7b is
// qwen2.5-7b, tinyllama:latest is tinyllama.
func modelName(s string) string {
	s = strings.ToLower(strings.TrimSuffix(s, ":latest"))
	return strings.ReplaceAll(s, ":", "-")
}

func profileEngine(profiles []*state.Recipe, name string) string {
	for _, p := range profiles {
		if p.Name == name {
			return p.EngineType
		}
	}
	return ""
}

func recipeNames(rs []*state.Recipe) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// suggest names the models whose names start with the asked one's
// family ("qwen" → qwen2.5-0.5b, ...).
func suggest(recipes []*state.Recipe, want string) string {
	stem := strings.ToLower(want)
	if i := strings.IndexFunc(stem, func(r rune) bool { return r < 'a' || r > 'z' }); i > 0 {
		stem = stem[:i] // the family: qwen of qwen9, llama of llama3.9-8b
	}
	seen := map[string]bool{}
	var names []string
	for _, r := range recipes {
		if n := r.Models[0].Name; strings.HasPrefix(n, stem) && !seen[n] && r.EngineType != "stub" {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return " (aima catalog list shows the recipes)"
	}
	return " (did you mean " + strings.Join(names, ", ") + "?)"
}
