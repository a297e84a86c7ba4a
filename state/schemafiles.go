package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aima-dev/aima/schemas"
)

// SchemasDir is the directory of the state directory where aima writes the
// JSON Schemas of its files, for editors: the modeline of every file it
// writes points there by a relative path ("../.schemas/service.json",
// ".schemas/settings.json" in aima.yaml), which an editor resolves
// offline.
//
// The schemas are generated from the binary (the embedded schemas/) and
// never committed: the directory ignores itself (a .gitignore of "*"), so
// each machine has the schemas of the aima that validates its files, an
// upgrade adds no commit, and machines on different versions following one
// repository never commit or merge them. A fresh clone gets them from
// aima init --from or the first aima start.
const SchemasDir = ".schemas"

// WriteSchemas writes the schemas of this binary into SchemasDir, each file
// only when it differs (aima init, aima start and the creation of the
// state directory call it). A SchemasDir that is not a directory (a link,
// say) is refused, never written through.
func (s *Store) WriteSchemas() error {
	dir := s.path(SchemasDir)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
	case err != nil:
		return fmt.Errorf("schemas: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("schemas: %s is not a directory (a link is never followed); remove it and aima writes the schemas there", SchemasDir)
	}
	files := map[string][]byte{".gitignore": []byte("# aima: JSON Schemas for editors, written from the aima binary; never committed\n*\n")}
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			return err
		}
		files[e.Name()] = b
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := WriteFile(path, b); err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
	}
	return nil
}
