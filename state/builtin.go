package state

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/aima-dev/aima/state/repo"
)

// builtinFS holds the engines, skills and catalog recipes (the knowledge
// base) compiled into the binary. A file of the same name in the state
// directory overrides a built-in.
//
//go:embed builtin
var builtinFS embed.FS

// builtinKinds are the kinds that come built in.
var builtinKinds = []*Kind{KindEngine, KindSkill, KindCatalog}

// HasBuiltins reports whether objects of the kind come built in (engines,
// skills, catalog recipes): their entries say where they come from
// (source: builtin or file).
func (k *Kind) HasBuiltins() bool {
	for _, b := range builtinKinds {
		if b == k {
			return true
		}
	}
	return false
}

var (
	builtinOnce sync.Once
	builtins    map[*Kind][]Entry
	builtinErr  error
)

func loadBuiltins() {
	builtins = map[*Kind][]Entry{}
	for _, k := range builtinKinds {
		files, _ := fs.Glob(builtinFS, "builtin/"+k.Dir+"/*"+k.Ext)
		for _, f := range files {
			b, _ := fs.ReadFile(builtinFS, f)
			rel := strings.TrimPrefix(f, "builtin/")
			o, err := k.Decode(rel, b)
			if err != nil {
				builtinErr = fmt.Errorf("built-in %s: %w", rel, err)
				return
			}
			builtins[k] = append(builtins[k], Entry{Kind: k, Object: o, Source: SourceBuiltin, Revision: repo.BlobHash(b)})
		}
		sort.Slice(builtins[k], func(i, j int) bool {
			return builtins[k][i].Object.ObjectName() < builtins[k][j].Object.ObjectName()
		})
	}
}

// Builtins returns the built-in objects of a kind (engines, skills and
// catalog recipes; none for the other kinds).
func Builtins(k *Kind) []Entry {
	builtinOnce.Do(loadBuiltins)
	if builtinErr != nil {
		panic(builtinErr) // a broken built-in is a build defect, caught by tests
	}
	return builtins[k]
}

// Builtin returns the named built-in object.
func Builtin(k *Kind, name string) (Entry, bool) {
	for _, e := range Builtins(k) {
		if e.Object.ObjectName() == name {
			return e, true
		}
	}
	return Entry{}, false
}
