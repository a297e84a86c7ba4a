package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// PolicyPath is the local policy of a state directory: what its files may
// ask of this machine. It is under .local/, so it is never committed and
// never pulled: only the machine's owner writes it.
const PolicyPath = ".local/policy.yaml"

// Policy is .local/policy.yaml. It applies to every object file however it
// arrived (CLI, API, editor, pull, follow): a file that breaks it is
// invalid, with the rule it broke, and is never applied.
type Policy struct {
	// Images are patterns of the image references engines and apps may use;
	// '*' matches any run of characters ("vllm/vllm-openai:*",
	// "ghcr.io/open-webui/*"). Default: any image.
	Images []string `yaml:"images"`
	// HostPaths are host directories that app volumes and model paths may
	// mount (with everything under them), besides the state directory's
	// .local/models/, which is always allowed. Default: none.
	HostPaths []string `yaml:"host_paths"`
	// Env are the names ${env:NAME} may read from the agent's environment.
	// Default: none (the agent's HF_TOKEN or AIMA_GIT_TOKEN is not for the
	// files to take).
	Env []string `yaml:"env"`
	// HostIPs are the addresses services and apps may publish their ports
	// on (host_ip; the default 127.0.0.1 is always allowed). Default: any;
	// a follower that must not be exposed by a pushed file lists none.
	HostIPs []string `yaml:"host_ips"`
	// PulledSettings lets a pulled commit change aima.yaml's local settings
	// (api, port_range, host_ip, remote). Default: false.
	PulledSettings bool `yaml:"pulled_settings"`

	dir string // the state directory, for .local/models/
}

// DefaultPolicy is the policy of a state directory without a policy file.
func DefaultPolicy() Policy { return Policy{Images: []string{"*"}, HostIPs: []string{"*"}} }

// DefaultPolicyFile is what `aima init` writes: the default policy, with
// each rule explained.
const DefaultPolicyFile = `# aima local policy: what the files of this state directory may ask of this
# machine. It is never committed and never pulled; it applies to every file
# however it arrived (CLI, API, editor, aima pull, a followed remote). A file
# that breaks it is reported invalid, naming the rule, and is not applied.

# Image references engines and apps may use; * matches any run of characters,
# e.g. ["vllm/vllm-openai:*", "ollama/ollama:*", "ghcr.io/open-webui/*"].
images: ["*"]

# Host directories (and what is under them) that app volumes and model paths
# may mount. This state directory's .local/models/ and named volumes are
# always allowed; /, /etc, /root and the Docker socket only if listed here.
host_paths: []

# Addresses services and apps may publish ports on (host_ip); 127.0.0.1 is
# always allowed. ["*"] allows any; [] keeps every port on loopback, whatever
# a pulled file says.
host_ips: ["*"]

# Names ${env:NAME} may read from the agent's environment, e.g. [HF_TOKEN].
env: []

# Whether a pulled commit may change aima.yaml's local settings
# (api, port_range, host_ip, remote).
pulled_settings: false
`

// policyCache keeps the parsed policy of a store until its file changes.
type policyCache struct {
	mu    sync.Mutex
	mod   time.Time
	size  int64
	found bool
	p     Policy
	err   error
}

// Policy returns the state directory's local policy: .local/policy.yaml,
// or DefaultPolicy when there is none. A policy file that does not parse is
// an error; Check then applies DefaultPolicy (fail closed to the defaults).
func (s *Store) Policy() (Policy, error) {
	c := &s.core.policy
	path := s.path(PolicyPath)
	fi, err := os.Stat(path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.found && fi.ModTime().Equal(c.mod) && fi.Size() == c.size {
		return c.p, c.err
	}
	if errors.Is(err, fs.ErrNotExist) && !c.found && c.p.dir != "" {
		return c.p, nil
	}
	p := DefaultPolicy()
	p.dir = s.Dir
	c.found, c.err = false, nil
	if err == nil {
		c.found, c.mod, c.size = true, fi.ModTime(), fi.Size()
		b, rerr := os.ReadFile(path)
		if rerr == nil {
			p, rerr = ParsePolicy(b)
			p.dir = s.Dir
		}
		if rerr != nil {
			c.err = localFileError(PolicyPath, rerr)
			p = DefaultPolicy()
			p.dir = s.Dir
		}
	}
	c.p = p
	return c.p, c.err
}

// ParsePolicy parses a policy file; fields it does not know are errors.
func ParsePolicy(b []byte) (Policy, error) {
	p := Policy{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, err // *yaml.TypeError or a syntax error, with its lines
	}
	if p.Images == nil {
		p.Images = DefaultPolicy().Images
	}
	if p.HostIPs == nil {
		p.HostIPs = DefaultPolicy().HostIPs
	}
	for i, h := range p.HostPaths {
		if !filepath.IsAbs(h) {
			return Policy{}, fmt.Errorf("host_paths[%d]: %q is not an absolute path", i, h)
		}
		p.HostPaths[i] = filepath.Clean(h)
	}
	return p, nil
}

// ModelsDir is where models are kept on this machine: .local/models/ of the
// state directory; the policy always allows it.
func ModelsDir(dir string) string { return filepath.Join(dir, ".local", "models") }

// Check returns the policy's problems with o (nil when it keeps every rule).
func (p Policy) Check(o Object) []Problem {
	var probs []Problem
	add := func(field, format string, args ...any) {
		probs = append(probs, Problem{Field: field, Message: "policy: " + fmt.Sprintf(format, args...)})
	}
	image := func(field, ref string) {
		if ref != "" && !p.ImageAllowed(ref) {
			add(field, "image %q is not allowed (%s images: %s)", ref, PolicyPath, strings.Join(p.Images, ", "))
		}
	}
	env := func(env map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if src, name, _, ok := SecretRef(env[k]); ok && src == "env" && !p.EnvAllowed(name) {
				add("/env/"+k, "${env:%s} is not allowed: the agent's environment is not for the files to read (add %s to env in %s)", name, name, PolicyPath)
			}
		}
	}
	hostIP := func(ip string) {
		if ip != "" && ip != "127.0.0.1" && !p.HostIPAllowed(ip) {
			add("/host_ip", "publishing on %s is not allowed (%s host_ips: %s)", ip, PolicyPath, strings.Join(p.HostIPs, ", "))
		}
	}
	switch o := o.(type) {
	case *Model:
		if o.Path != "" && !p.PathAllowed(o.Path) {
			add("/path", "host path %q is not allowed (%s); models go under %s, or add a directory to host_paths in %s", o.Path, p.allowedPaths(), ModelsDir(p.dir), PolicyPath)
		}
	case *Engine:
		image("/image", o.Image)
		for i, im := range o.AlternativeImages {
			image(fmt.Sprintf("/alternative_images/%d", i), im)
		}
		env(o.Env)
	case *Service:
		hostIP(o.HostIP)
		env(o.Env)
	case *App:
		hostIP(o.HostIP)
		image("/image", o.Image)
		for i, v := range o.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "/") && !p.PathAllowed(src) {
				add(fmt.Sprintf("/volumes/%d", i), "host path %q is not allowed (%s); use a named volume, or add the directory to host_paths in %s", src, p.allowedPaths(), PolicyPath)
			}
		}
		env(o.Env)
	}
	return probs
}

func (p Policy) allowedPaths() string {
	out := []string{ModelsDir(p.dir)}
	out = append(out, p.HostPaths...)
	return "allowed: " + strings.Join(out, ", ")
}

// PathAllowed reports whether a host path is inside .local/models/ or one
// of the policy's host paths. The path is cleaned first, so ".." cannot
// climb out.
func (p Policy) PathAllowed(path string) bool {
	if !filepath.IsAbs(path) {
		return false
	}
	path = filepath.Clean(path)
	roots := append([]string{ModelsDir(p.dir)}, p.HostPaths...)
	for _, r := range roots {
		if r == "" {
			continue
		}
		if path == r || strings.HasPrefix(path, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// ImageAllowed reports whether an image reference matches one of the
// policy's patterns.
func (p Policy) ImageAllowed(ref string) bool {
	for _, pat := range p.Images {
		if globMatch(pat, ref) {
			return true
		}
	}
	return false
}

// HostIPAllowed reports whether ports may be published on ip.
func (p Policy) HostIPAllowed(ip string) bool {
	for _, pat := range p.HostIPs {
		if globMatch(pat, ip) {
			return true
		}
	}
	return false
}

// EnvAllowed reports whether ${env:name} may be resolved.
func (p Policy) EnvAllowed(name string) bool {
	for _, n := range p.Env {
		if n == name {
			return true
		}
	}
	return false
}

// SecretRef parses an env value that is a secret reference: ${env:NAME}
// (the agent's environment) or ${file:NAME} (.local/secrets/NAME). isRef
// says the value is written as a reference (${...}); ok that it is a valid
// one (a known source and a plain NAME).
func SecretRef(v string) (src, name string, isRef, ok bool) {
	if !strings.HasPrefix(v, "${") {
		return "", "", false, false
	}
	if !strings.HasSuffix(v, "}") {
		return "", "", true, false
	}
	src, name, cut := strings.Cut(v[2:len(v)-1], ":")
	ok = cut && (src == "env" || src == "file") && name != "" && !strings.Contains(name, "..") && !strings.Contains(name, "/")
	return src, name, true, ok
}

// globMatch matches s against a pattern where '*' is any run of characters
// (including '/', unlike path.Match: image references have slashes).
func globMatch(pat, s string) bool {
	parts := strings.Split(pat, "*")
	if len(parts) == 1 {
		return pat == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// Decode decodes an object file of kind k at rel, with its pipeline steps'
// units checked against s.UnitExists, and checks it against the local
// policy: the one validation every door shares (CLI and API writes, edits
// the agent records, pulled revisions, the loader).
func (s *Store) Decode(k *Kind, rel string, b []byte) (Object, error) {
	o, err := k.DecodeWith(rel, b, s.UnitExists)
	if err != nil {
		return nil, err
	}
	p, _ := s.Policy() // a broken policy file applies the defaults; validate and start report it
	if probs := p.Check(o); len(probs) > 0 {
		for i := range probs {
			probs[i].File = rel
		}
		return nil, &InvalidError{Problems: probs}
	}
	return o, nil
}
