package agent_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEngineImports: the engine does not serve, watch or follow, so it
// imports none of the packages of the process that does (package daemon
// and what only it wires: the API, the watcher, the units, the alerts).
func TestEngineImports(t *testing.T) {
	wiring := []string{"agent/daemon", "agent/api", "agent/watch", "agent/unit", "agent/pipeline", "agent/alert"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, w := range wiring {
				if path == "github.com/aima-dev/aima/"+w {
					t.Errorf("%s imports %s: that is the wiring's (package daemon), not the engine's", f, path)
				}
			}
		}
	}
}
