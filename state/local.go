package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// LocalSettingsPath is this machine's own settings for the state directory:
// under .local/, so never committed and never pulled, unlike aima.yaml.
const LocalSettingsPath = ".local/settings.yaml"

// LocalSettings is .local/settings.yaml.
type LocalSettings struct {
	// API overrides aima.yaml's api (the address the agent listens on).
	API string `yaml:"api,omitempty"`
	// AllowedHosts are Host names, besides the loopback ones, that the
	// agent answers to (the machine's DNS name when it listens off
	// loopback).
	AllowedHosts []string `yaml:"allowed_hosts,omitempty"`
	// CORSOrigins are web origins ("https://ops.example.com") whose pages
	// may call the API (with the token); no other site can.
	CORSOrigins []string `yaml:"cors_origins,omitempty"`
}

// LocalSettings reads .local/settings.yaml (empty settings when there is
// none); unknown fields are errors, named with the file.
func (s *Store) LocalSettings() (LocalSettings, error) {
	var ls LocalSettings
	b, err := os.ReadFile(s.path(LocalSettingsPath))
	if errors.Is(err, fs.ErrNotExist) {
		return ls, nil
	}
	if err != nil {
		return ls, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&ls); err != nil && !errors.Is(err, io.EOF) {
		return ls, localFileError(LocalSettingsPath, err)
	}
	return ls, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var yamlField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// localFileError names the file and line of each problem yaml found in a
// local file (.local/settings.yaml, .local/policy.yaml), as problems with
// object files are shown: FILE:LINE: MESSAGE, an unknown field as
// FILE:LINE: FIELD: unknown field "FIELD".
func localFileError(file string, err error) error {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{err.Error()}
	}
	for i, l := range lines {
		m := yamlLine.FindStringSubmatch(l)
		if m == nil {
			lines[i] = file + ": " + strings.TrimPrefix(l, "yaml: ")
			continue
		}
		msg := m[2]
		if f := yamlField.FindStringSubmatch(msg); f != nil {
			msg = fmt.Sprintf("%s: unknown field %q", f[1], f[1])
		}
		lines[i] = fmt.Sprintf("%s:%s: %s", file, m[1], msg)
	}
	return errors.New(strings.Join(lines, "\n  "))
}
