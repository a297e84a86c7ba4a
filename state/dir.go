package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DirName is the name of a state directory.
const DirName = ".aima"

// FindDir chooses the state directory: the --dir flag, then $AIMA_DIR, then
// the nearest .aima/ in the working directory or its parents, then ~/.aima.
// The directory need not exist yet.
func FindDir(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if env := os.Getenv("AIMA_DIR"); env != "" {
		return filepath.Abs(env)
	}
	wd, err := os.Getwd()
	if err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, DirName)
			if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
				return cand, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no state directory: pass --dir or set AIMA_DIR")
	}
	return filepath.Join(home, DirName), nil
}

// ensureDir makes sure dir exists, with a clear error when it is a file.
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return os.MkdirAll(dir, 0o755)
}
