package state

import "os"

// withDir runs f with the working directory set to dir. Only the schema
// generator uses it (invopop reads Go comments relative to the working
// directory); it is not safe for concurrent use.
func withDir(dir string, f func() error) error {
	old, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := os.Chdir(dir); err != nil {
		return err
	}
	defer os.Chdir(old)
	return f()
}
