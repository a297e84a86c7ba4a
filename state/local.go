package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
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
	// Host is which host of a fleet this machine is (hosts/<host>.yaml):
	// it runs the services and apps placed on it.
	Host string `yaml:"host,omitempty"`
	// LLM is the model the operator (aima agent) talks to.
	LLM *LLMSettings `yaml:"llm,omitempty"`
	// Runtime runs the containers: "docker" (the default) or "kubernetes"
	// (a Deployment and a Service per container, in Namespace).
	Runtime string `yaml:"runtime,omitempty"`
	// Kubeconfig is the kubernetes runtime's kubeconfig file (default:
	// $KUBECONFIG, ~/.kube/config, or the cluster aima runs in).
	Kubeconfig string `yaml:"kubeconfig,omitempty"`
	// Namespace holds the kubernetes runtime's objects (default: the
	// kubeconfig context's, else "default").
	Namespace string `yaml:"namespace,omitempty"`
}

// LLMSettings choose the operator's model: a model served by aima itself
// (model alone), or any OpenAI-compatible endpoint (endpoint, model and,
// when it wants one, api_key).
type LLMSettings struct {
	// Model is the model name: an aima model with a running service, or
	// the endpoint's model.
	Model string `yaml:"model,omitempty"`
	// Endpoint is the base URL of an OpenAI-compatible API
	// ("https://api.openai.com/v1", "http://gpu-box:8000/v1"); unset: the
	// model is served by aima.
	Endpoint string `yaml:"endpoint,omitempty"`
	// APIKey is sent as a bearer token: ${env:NAME} (read from the
	// environment when used) or the key itself (this file is never
	// committed).
	APIKey string `yaml:"api_key,omitempty"`
}

// Runtimes are the values of LocalSettings.Runtime.
var Runtimes = []string{"docker", "kubernetes"}

// SetLocalRuntime writes the container runtime (and for kubernetes its
// kubeconfig and namespace) into .local/settings.yaml, keeping its other
// settings.
func (s *Store) SetLocalRuntime(runtime, kubeconfig, namespace string) error {
	ls, err := s.LocalSettings()
	if err != nil {
		return err
	}
	ls.Runtime, ls.Kubeconfig, ls.Namespace = runtime, kubeconfig, namespace
	if err := ls.check(); err != nil {
		return err
	}
	return s.writeLocalSettings(ls)
}

// writeLocalSettings writes ls as .local/settings.yaml.
func (s *Store) writeLocalSettings(ls LocalSettings) error {
	b, err := yaml.Marshal(&ls)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.path(".local"), 0o755); err != nil {
		return err
	}
	return WriteFile(s.path(LocalSettingsPath), b)
}

func (ls LocalSettings) check() error {
	if ls.Runtime != "" && !slices.Contains(Runtimes, ls.Runtime) {
		return fmt.Errorf("%s: runtime: %q is not one of %s", LocalSettingsPath, ls.Runtime, strings.Join(Runtimes, ", "))
	}
	if ls.Runtime != "kubernetes" && (ls.Kubeconfig != "" || ls.Namespace != "") {
		return fmt.Errorf("%s: kubeconfig and namespace are settings of runtime: kubernetes", LocalSettingsPath)
	}
	if ls.Namespace != "" {
		if err := CheckName("namespace", ls.Namespace); err != nil || strings.ContainsAny(ls.Namespace, "._") {
			return fmt.Errorf("%s: namespace: %q is not a Kubernetes namespace name", LocalSettingsPath, ls.Namespace)
		}
	}
	return nil
}

// FleetPath holds the tokens `aima fleet` sends each host's agent:
// tokens: {HOST: TOKEN, "*": TOKEN for every other host}. Under .local/:
// never committed, never pulled.
const FleetPath = ".local/fleet.yaml"

// FleetTokens reads the tokens of .local/fleet.yaml by host ("*": the
// token of every host without its own); none when there is no file.
func (s *Store) FleetTokens() (map[string]string, error) {
	var f struct {
		Tokens map[string]string `yaml:"tokens"`
	}
	if err := s.readLocal(FleetPath, &f); err != nil {
		return nil, err
	}
	if f.Tokens == nil {
		f.Tokens = map[string]string{}
	}
	return f.Tokens, nil
}

// SetLocalHost writes which host this machine is into
// .local/settings.yaml, keeping its other settings.
func (s *Store) SetLocalHost(host string) error {
	if err := CheckName("host", host); err != nil {
		return err
	}
	ls, err := s.LocalSettings()
	if err != nil {
		return err
	}
	if ls.Host == host {
		return nil
	}
	ls.Host = host
	return s.writeLocalSettings(ls)
}

// Placer returns what says whether an object with placement p runs on
// this machine, and when not, why ("placed on hosts a, b"); the local
// settings and the host's labels are read once. No placement runs
// everywhere; a machine that is no host (no host in its local settings)
// runs only what has no placement.
func (s *Store) Placer() func(p *Placement) (bool, string) {
	ls, _ := s.LocalSettings()
	var labels map[string]string
	if ls.Host != "" {
		if e, err := s.Get(KindHost, ls.Host); err == nil {
			labels = e.Object.(*Host).Labels
		}
	}
	return func(p *Placement) (bool, string) {
		if p == nil || (len(p.Hosts) == 0 && len(p.HostLabels) == 0) {
			return true, ""
		}
		where := describePlacement(p)
		if ls.Host == "" {
			return false, where + "; this machine is no host of the fleet (aima start --host NAME)"
		}
		if len(p.Hosts) > 0 && !slices.Contains(p.Hosts, ls.Host) {
			return false, where + "; this is host " + ls.Host
		}
		for k, v := range p.HostLabels {
			if labels[k] != v {
				return false, where + "; this is host " + ls.Host
			}
		}
		return true, ""
	}
}

func describePlacement(p *Placement) string {
	out := "placed on "
	if len(p.Hosts) > 0 {
		out += "host(s) " + strings.Join(p.Hosts, ", ")
	} else {
		out += "hosts"
	}
	if len(p.HostLabels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(p.HostLabels)) {
			ls = append(ls, k+"="+p.HostLabels[k])
		}
		out += " labelled " + strings.Join(ls, ", ")
	}
	return out
}

// LocalSettings reads .local/settings.yaml (empty settings when there is
// none); unknown fields are errors, named with the file.
func (s *Store) LocalSettings() (LocalSettings, error) {
	var ls LocalSettings
	if err := s.readLocal(LocalSettingsPath, &ls); err != nil {
		return ls, err
	}
	return ls, ls.check()
}

// readLocal decodes the local YAML file rel into v, which keeps its zero
// value when there is no file; unknown fields are errors, named with the
// file and line.
func (s *Store) readLocal(rel string, v any) error {
	b, err := os.ReadFile(s.path(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return localFileError(rel, err)
	}
	return nil
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
