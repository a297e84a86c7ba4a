package state

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
)

// localInstancePath holds this machine's instance id when it must differ
// from aima.yaml's (a state directory cloned from, or following, a shared
// repository). It is under .local/, so it is never committed.
const localInstancePath = ".local/instance"

// localInstance returns the instance id in .local/instance, or "".
func (s *Store) localInstance() string {
	b, err := os.ReadFile(s.path(localInstancePath))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// pinInstance keeps this machine's instance id when incoming (a pulled
// aima.yaml) would change it: the id is what marks this machine's
// containers, so changing it would orphan them.
func (s *Store) pinInstance(incoming []byte) error {
	if s.localInstance() != "" {
		return nil
	}
	in, err := decodeSettings(incoming)
	if err != nil {
		return err
	}
	cur, err := s.Settings()
	if err != nil || cur.Instance == "" || cur.Instance == in.Instance {
		return nil
	}
	return WriteFile(s.path(localInstancePath), []byte(cur.Instance+"\n"))
}

// newInstanceID is a random instance id for a new clone (aima-xxxxxxxx).
func newInstanceID() string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return "aima-" + hex.EncodeToString(rnd[:])
}
