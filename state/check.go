package state

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
)

// check does the validation a JSON Schema cannot express: references that
// must be names, templates that must parse, step graphs without cycles.
// unitExists, when not nil, reports whether a pipeline step's unit exists
// (the registry of units lives above state; see Store.UnitExists); without
// it step units are checked only by their pattern.
func check(o Object, unitExists func(name string) bool) error {
	var probs []Problem
	add := func(field, format string, args ...any) {
		probs = append(probs, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch o := o.(type) {
	case *Service:
		if o.Model != "" && !ValidName(o.Model) {
			add("/model", "%q is not a valid model name", o.Model)
		}
		if o.Engine != "" && !ValidName(o.Engine) {
			add("/engine", "%q is not a valid engine name", o.Engine)
		}
		for i, p := range o.ReplicaPorts {
			if p == o.Port && p != 0 {
				add(fmt.Sprintf("/replica_ports/%d", i), "%d is the service's port (replica 1's); each replica needs a port of its own", p)
			}
			if p < 1 || p > 65535 {
				add(fmt.Sprintf("/replica_ports/%d", i), "%d is not a port (1-65535)", p)
			}
		}
		if sets := strings.Split(o.GPU, ";"); len(sets) > 1 && len(sets) != o.ReplicaCount() {
			add("/gpu", "%q names %d GPU sets (one per replica, separated by ';') but replicas is %d", o.GPU, len(sets), o.ReplicaCount())
		}
		for _, k := range sortedKeys(o.Config) {
			switch o.Config[k].(type) {
			case string, bool, int, int64, float64, json.Number:
			default:
				add("/config/"+k, "%v: a setting is a string, a number or true/false", o.Config[k])
			}
		}
		checkEnv(o.Env, add)
	case *Engine:
		argProblem := func(field, a string) {
			if _, err := ParseArg(a); err != nil {
				// Named with the engine's file even for a request body:
				// the argument is refused before anything is written.
				probs = append(probs, Problem{File: o.filePath(), Field: field, Message: err.Error()})
			}
		}
		for i, a := range o.Args {
			argProblem(fmt.Sprintf("/args/%d", i), a)
		}
		for _, k := range sortedKeys(o.Config) {
			for i, a := range o.Config[k].Args {
				argProblem(fmt.Sprintf("/config/%s/args/%d", k, i), a)
			}
			for _, e := range sortedKeys(o.Config[k].Env) {
				argProblem(fmt.Sprintf("/config/%s/env/%s", k, e), o.Config[k].Env[e])
			}
		}
		for i, v := range o.Volumes {
			name, target, _ := strings.Cut(v, ":")
			target, mode, _ := strings.Cut(target, ":")
			if !VolumeName(name) || !strings.HasPrefix(target, "/") || (mode != "" && mode != "ro" && mode != "rw") {
				add(fmt.Sprintf("/volumes/%d", i), "%q: an engine volume is VOLUME:/path[:ro], a named volume (letters, digits, '_', '.', '-')", v)
			}
		}
		for i, n := range o.PassEnv {
			if n == "" || strings.ContainsAny(n, "= \t\n$") {
				add(fmt.Sprintf("/pass_env/%d", i), "%q is not a valid environment variable name", n)
			}
		}
		for _, v := range sortedKeys(o.GPUImages) {
			if v != "nvidia" && v != "amd" {
				add("/gpu_images/"+v, "%q: the GPU vendors are nvidia and amd", v)
			}
		}
		checkEnv(o.Env, add)
	case *App:
		for i, v := range o.Volumes {
			if src, _, _ := strings.Cut(v, ":"); !strings.HasPrefix(src, "/") && !VolumeName(src) {
				add(fmt.Sprintf("/volumes/%d", i), "%q: the source is an absolute host path or a volume name (letters, digits, '_', '.', '-')", v)
			}
		}
		for i, p := range o.Ports {
			h, c, _ := strings.Cut(p, ":")
			if !portOK(h) || !portOK(c) {
				add(fmt.Sprintf("/ports/%d", i), "%q: ports are HOST:CONTAINER with both between 1 and 65535", p)
			}
		}
		checkEnv(o.Env, add)
	case *Pipeline:
		checkSteps(o.Steps, unitExists, add)
		if o.Schedule != "" {
			if _, err := ParseSchedule(o.Schedule); err != nil {
				add("/schedule", "%q: %v", o.Schedule, err)
			}
		}
	case *Alert:
		checkAlert(o, add)
	}
	var pl *Placement
	switch o := o.(type) {
	case *Service:
		pl = o.Placement
	case *App:
		pl = o.Placement
	}
	if pl != nil {
		for i, h := range pl.Hosts {
			if !ValidName(h) {
				add(fmt.Sprintf("/placement/hosts/%d", i), "%q is not a valid host name", h)
			}
		}
	}
	probs = append(probs, hostIPProblems(o)...)
	if len(probs) > 0 {
		return &InvalidError{Problems: probs}
	}
	return nil
}

// ParseSchedule parses a pipeline's schedule: standard cron (five fields:
// minute hour day-of-month month day-of-week, e.g. "*/15 * * * *"), a
// descriptor (@hourly, @daily, @weekly, @monthly, @yearly) or @every with
// a duration ("@every 10m"); "CRON_TZ=Europe/Paris 0 6 * * *" picks a time
// zone (the default is the machine's).
func ParseSchedule(spec string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("not a schedule (five cron fields such as \"0 * * * *\", @hourly/@daily/..., or @every 10m): %v", err)
	}
	return sched, nil
}

var volumeRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// VolumeName reports whether s names a Docker volume (rather than a path).
func VolumeName(s string) bool { return volumeRE.MatchString(s) }

func portOK(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func checkEnv(env map[string]string, add func(string, string, ...any)) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			add("/env/"+k, "%q is not a valid environment variable name", k)
		}
		v := env[k]
		if _, _, isRef, ok := SecretRef(v); isRef && !ok {
			add("/env/"+k, "%q: a secret reference is ${env:NAME} or ${file:NAME} (a file under .local/secrets/)", v)
		}
	}
}

// checkSteps refuses empty or duplicate step ids, unknown depends_on and cycles.
func checkSteps(steps []Step, unitExists func(string) bool, add func(string, string, ...any)) {
	ids := map[string]int{}
	for i, s := range steps {
		if prev, dup := ids[s.ID]; dup {
			add(fmt.Sprintf("/steps/%d/id", i), "step id %q is used by steps %d and %d", s.ID, prev, i)
			continue
		}
		ids[s.ID] = i
	}
	for i, s := range steps {
		if unitExists != nil && s.Unit != "" && !unitExists(s.Unit) {
			add(fmt.Sprintf("/steps/%d/unit", i), "step %q: unknown unit %q (aima pipeline units lists them)", s.ID, s.Unit)
		}
	}
	for i, s := range steps {
		for j, d := range s.DependsOn {
			if _, ok := ids[d]; !ok {
				add(fmt.Sprintf("/steps/%d/depends_on/%d", i, j), "step %q depends on %q, which is not a step of this pipeline", s.ID, d)
			}
			if d == s.ID {
				add(fmt.Sprintf("/steps/%d/depends_on/%d", i, j), "step %q depends on itself", s.ID)
			}
		}
	}
	checkRefs(steps, ids, add)
	// Cycle detection by depth-first search, naming the steps of the cycle.
	state := map[string]int{} // 0 new, 1 on stack, 2 done
	deps := map[string][]string{}
	for _, s := range steps {
		deps[s.ID] = s.DependsOn
	}
	var stack []string
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case 1:
			start := 0
			for i, s := range stack {
				if s == id {
					start = i
				}
			}
			cycle := append(append([]string{}, stack[start:]...), id)
			add(fmt.Sprintf("/steps/%d/depends_on", ids[id]), "steps form a cycle: %s", strings.Join(cycle, " -> "))
			return true
		case 2:
			return false
		}
		state[id] = 1
		stack = append(stack, id)
		for _, d := range deps[id] {
			if _, ok := ids[d]; ok && d != id && visit(d) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = 2
		return false
	}
	for _, s := range steps {
		if visit(s.ID) {
			return
		}
	}
}

// stepRef finds ${steps.<id>.<field>} (and ${steps.<id>}) references in
// step params.
var stepRef = regexp.MustCompile(`\$\{steps\.([A-Za-z0-9_-]+)(?:\.[^}]+)?\}`)

// anyRef is anything written like a reference: ${...}.
var anyRef = regexp.MustCompile(`\$\{[^}]*\}`)

// paramRef is what a run replaces in step params (agent/pipeline's ref):
// ${input.FIELD...} and ${steps.ID...}. Secret references (${env:NAME},
// ${file:NAME}) are passed on as they are, for the file a unit writes.
var paramRef = regexp.MustCompile(`^\$\{(?:(?:input|steps)\.[^}.][^}]*|(?:env|file):[^}]+)\}$`)

// checkRefs refuses what looks like a reference in step params but is not
// one (${mk.name}, ${input}: a run would pass it on as text), and a
// reference to a step that does not run before the referencing one (is
// not among its transitive depends_on): its output would not exist yet.
func checkRefs(steps []Step, ids map[string]int, add func(string, string, ...any)) {
	for i, s := range steps {
		walkStrings(s.Params, fmt.Sprintf("/steps/%d/params", i), func(ptr, str string) {
			for _, m := range anyRef.FindAllString(str, -1) {
				if !paramRef.MatchString(m) {
					param := strings.TrimPrefix(ptr, fmt.Sprintf("/steps/%d/params/", i))
					add(ptr, "step %q, parameter %q: %s is not a reference: a step parameter references ${input.FIELD} or ${steps.ID.FIELD} (ID one of the steps it depends on)", s.ID, param, m)
				}
			}
		})
	}
	for i, s := range steps {
		before := map[string]bool{}
		var walk func(id string)
		walk = func(id string) {
			j, ok := ids[id]
			if !ok {
				return
			}
			for _, d := range steps[j].DependsOn {
				if !before[d] {
					before[d] = true
					walk(d)
				}
			}
		}
		walk(s.ID)
		var strs []string
		collectStrings(s.Params, &strs)
		for _, str := range strs {
			for _, m := range stepRef.FindAllStringSubmatch(str, -1) {
				if !before[m[1]] {
					add(fmt.Sprintf("/steps/%d/params", i), "step %q references %s, but %q is not among the steps it depends on", s.ID, m[0], m[1])
				}
			}
		}
	}
}

// walkStrings calls fn with every string in v and its JSON pointer.
func walkStrings(v any, ptr string, fn func(ptr, s string)) {
	switch v := v.(type) {
	case string:
		fn(ptr, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(v[k], ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), fn)
		}
	case []any:
		for i, e := range v {
			walkStrings(e, fmt.Sprintf("%s/%d", ptr, i), fn)
		}
	}
}

func collectStrings(v any, out *[]string) {
	walkStrings(v, "", func(_, s string) { *out = append(*out, s) })
}

// checkAlert parses the condition (a syntax error or unknown metric is
// refused with its column) and checks that the action has what it needs.
func checkAlert(a *Alert, add func(string, string, ...any)) {
	e, err := ParseCondition(a.Condition)
	if err != nil {
		add("/condition", "%q: %v", a.Condition, err)
		return
	}
	switch a.Action {
	case "webhook":
		if a.WebhookURL == "" {
			add("/webhook_url", "action webhook needs webhook_url")
		} else if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("/webhook_url", "%q is not an http(s) URL", a.WebhookURL)
		}
	case "stop_service":
		if len(e.Services()) == 0 {
			add("/action", "stop_service stops the services the condition names (e.g. service_failed(\"chat\")); this condition names none")
		}
	}
}
