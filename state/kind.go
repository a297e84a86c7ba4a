package state

import (
	"fmt"
	"sort"
	"strings"
)

// Object is one domain object: one file in the state directory.
type Object interface {
	// ObjectName is the object's name, which is also its file name and id.
	ObjectName() string
	setName(string)
}

func (o *Model) ObjectName() string    { return o.Name }
func (o *Engine) ObjectName() string   { return o.Name }
func (o *Service) ObjectName() string  { return o.Name }
func (o *App) ObjectName() string      { return o.Name }
func (o *Recipe) ObjectName() string   { return o.Name }
func (o *Skill) ObjectName() string    { return o.Name }
func (o *Pipeline) ObjectName() string { return o.Name }
func (o *Alert) ObjectName() string    { return o.Name }
func (o *Resource) ObjectName() string { return o.Name }
func (o *Host) ObjectName() string     { return o.Name }

func (o *Model) setName(n string)    { o.Name = n }
func (o *Engine) setName(n string)   { o.Name = n }
func (o *Service) setName(n string)  { o.Name = n }
func (o *App) setName(n string)      { o.Name = n }
func (o *Recipe) setName(n string)   { o.Name = n }
func (o *Skill) setName(n string)    { o.Name = n }
func (o *Pipeline) setName(n string) { o.Name = n }
func (o *Alert) setName(n string)    { o.Name = n }
func (o *Resource) setName(n string) { o.Name = n }
func (o *Host) setName(n string)     { o.Name = n }

// Kind describes one file-backed domain: its word in the CLI and API, its
// directory, its file extension and its Go type.
type Kind struct {
	Name string // domain word: model, engine, service, ...
	Dir  string // directory under the state directory
	Ext  string // ".yaml", or ".md" for skills (front matter + body)
	new  func() Object
}

// New returns a new zero object of the kind.
func (k *Kind) New() Object { return k.new() }

// Path is the slash-separated path of the named object's file, relative to
// the state directory.
func (k *Kind) Path(name string) string { return k.Dir + "/" + name + k.Ext }

// Modeline is the first line of the files aima writes for the kind: it
// points editors (yaml-language-server) at the kind's JSON Schema in the
// state directory's .schemas/, by a path relative to the file, which
// resolves offline (see WriteSchemas).
func (k *Kind) Modeline() string {
	return "# yaml-language-server: $schema=../" + SchemasDir + "/" + k.Name + ".json\n"
}

func (k *Kind) String() string { return k.Name }

// SchemaBase is the URL prefix of the generated schemas: their $id.
const SchemaBase = "https://raw.githubusercontent.com/aima-dev/aima/main/schemas/"

// The file-backed kinds, in the order lists and status show them.
var (
	KindModel    = &Kind{Name: "model", Dir: "models", Ext: ".yaml", new: func() Object { return new(Model) }}
	KindEngine   = &Kind{Name: "engine", Dir: "engines", Ext: ".yaml", new: func() Object { return new(Engine) }}
	KindService  = &Kind{Name: "service", Dir: "services", Ext: ".yaml", new: func() Object { return new(Service) }}
	KindApp      = &Kind{Name: "app", Dir: "apps", Ext: ".yaml", new: func() Object { return new(App) }}
	KindCatalog  = &Kind{Name: "catalog", Dir: "catalog", Ext: ".yaml", new: func() Object { return new(Recipe) }}
	KindSkill    = &Kind{Name: "skill", Dir: "skills", Ext: ".md", new: func() Object { return new(Skill) }}
	KindPipeline = &Kind{Name: "pipeline", Dir: "pipelines", Ext: ".yaml", new: func() Object { return new(Pipeline) }}
	KindAlert    = &Kind{Name: "alert", Dir: "alerts", Ext: ".yaml", new: func() Object { return new(Alert) }}
	KindResource = &Kind{Name: "resource", Dir: "resources", Ext: ".yaml", new: func() Object { return new(Resource) }}
	KindHost     = &Kind{Name: "host", Dir: "hosts", Ext: ".yaml", new: func() Object { return new(Host) }}
)

// Kinds lists every file-backed kind.
var Kinds = []*Kind{KindModel, KindEngine, KindService, KindApp, KindCatalog, KindSkill, KindPipeline, KindAlert, KindResource, KindHost}

// LookupKind finds a kind by its domain word or directory name ("model",
// "models"); kind words are case-insensitive.
func LookupKind(word string) (*Kind, error) {
	w := strings.ToLower(strings.TrimSpace(word))
	for _, k := range Kinds {
		if w == k.Name || w == k.Dir || w == k.Name+"s" || (k == KindCatalog && (w == "recipe" || w == "recipes")) || (k == KindAlert && (w == "alert_rule" || w == "alert-rule")) {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: unknown kind %q (kinds: %s)", ErrInvalid, word, strings.Join(names, ", "))
}

// KindOfPath returns the kind and object name of a state-directory path such
// as "services/qwen.yaml", or ok=false when the path is not an object file
// (aima.yaml, .gitignore, editor temp files, nested directories).
func KindOfPath(rel string) (k *Kind, name string, ok bool) {
	dir, file, found := strings.Cut(rel, "/")
	if !found || strings.Contains(file, "/") || strings.HasPrefix(file, ".") {
		return nil, "", false
	}
	for _, k := range Kinds {
		if k.Dir == dir && strings.HasSuffix(file, k.Ext) {
			return k, strings.TrimSuffix(file, k.Ext), true
		}
	}
	return nil, "", false
}
