package state

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// prepare does what a write of o needs beyond validation: references must
// resolve, and a service without a port is given one.
func (s *Store) prepare(k *Kind, o Object) error {
	svc, ok := o.(*Service)
	if !ok {
		return nil
	}
	if !s.Exists(KindModel, svc.Model) && !s.inBatch(KindModel, svc.Model) {
		return &InvalidError{Problems: []Problem{{Field: "/model", Message: fmt.Sprintf("model %q does not exist (aima model list shows the models)", svc.Model)}}}
	}
	if !s.Exists(KindEngine, svc.Engine) && !s.inBatch(KindEngine, svc.Engine) {
		return &InvalidError{Problems: []Problem{{Field: "/engine", Message: fmt.Sprintf("engine %q does not exist (aima engine list shows the engines)", svc.Engine)}}}
	}
	if err := s.checkSettings(svc); err != nil {
		return err
	}
	claims, err := s.portClaims()
	if err != nil {
		return err
	}
	rel := KindService.Path(svc.Name)
	for _, b := range s.batch {
		if o, ok := b.obj.(*Service); ok && o != svc {
			for _, p := range o.Ports() {
				if p != 0 {
					claims[p] = KindService.Path(o.Name)
				}
			}
		}
	}
	for i, p := range svc.Ports() {
		field := "/port"
		if i > 0 {
			field = fmt.Sprintf("/replica_ports/%d", i-1)
		}
		if other, taken := claims[p]; p != 0 && taken && other != rel {
			return &InvalidError{Problems: []Problem{{Field: field, Message: fmt.Sprintf("port %d is already claimed by %s", p, other)}}}
		}
	}
	// A service written again without its ports (apply -f, update -f)
	// keeps the ports its file has, so applying the same input twice
	// changes nothing.
	var prev *Service
	if missingPorts(svc) { // the file is read only when a port is to be found
		if e, err := s.loadFile(KindService, svc.Name); err == nil && e.Object != nil {
			prev = e.Object.(*Service)
		}
	}
	return s.allocatePorts(svc, prev, claims)
}

// checkSettings refuses a service config setting its engine does not take,
// naming the ones it does: a recipe's gpu_memory_utilization is either an
// engine argument or an error, never silently dropped.
func (s *Store) checkSettings(svc *Service) error {
	if len(svc.Config) == 0 {
		return nil
	}
	var eng *Engine
	for _, b := range s.batch {
		if e, ok := b.obj.(*Engine); ok && e.Name == svc.Engine {
			eng = e
		}
	}
	if eng == nil {
		e, err := s.Get(KindEngine, svc.Engine)
		if err != nil {
			return err
		}
		eng, _ = e.Object.(*Engine)
	}
	if eng == nil {
		return nil
	}
	return EngineSettingsProblem(eng, svc.Config)
}

// EngineSettingsProblem is an InvalidError naming each setting of config
// the engine does not take, or nil.
func EngineSettingsProblem(eng *Engine, config map[string]any) error {
	var probs []Problem
	for _, k := range sortedKeys(config) {
		if _, ok := eng.Config[k]; !ok {
			takes := strings.Join(sortedKeys(eng.Config), ", ")
			if takes == "" {
				takes = "none"
			}
			probs = append(probs, Problem{Field: "/config/" + k, Message: fmt.Sprintf("engine %q has no setting %q (it takes: %s)", eng.Name, k, takes)})
		}
	}
	if len(probs) > 0 {
		return &InvalidError{Problems: probs}
	}
	return nil
}

// allocatePorts gives svc the host ports it lacks — port, and one in
// replica_ports for each replica past the first — reusing prev's (the
// file's earlier version) where it has them, else the lowest free ones;
// replica_ports beyond the replicas are dropped. The ports given are added
// to claims.
func (s *Store) allocatePorts(svc, prev *Service, claims map[int]string) error {
	rel := KindService.Path(svc.Name)
	var reuse []int
	if prev != nil {
		reuse = prev.Ports()
	}
	// Ports this file claimed before are free for it again; what it keeps
	// is claimed anew below.
	for p, by := range claims {
		if by == rel {
			delete(claims, p)
		}
	}
	ports := svc.Ports()
	for _, p := range ports {
		if p != 0 {
			claims[p] = rel
		}
	}
	for i := range ports {
		if ports[i] != 0 {
			continue
		}
		if i < len(reuse) && reuse[i] != 0 && claims[reuse[i]] == "" {
			ports[i] = reuse[i]
		} else {
			p, err := s.freePort(claims)
			if err != nil {
				return err
			}
			ports[i] = p
		}
		claims[ports[i]] = rel
	}
	svc.Port = ports[0]
	svc.ReplicaPorts = nil
	if len(ports) > 1 {
		svc.ReplicaPorts = ports[1:]
	}
	return nil
}

// ReplicaCount is the number of containers the service runs (replicas,
// default 1).
func (s *Service) ReplicaCount() int { return max(1, s.Replicas) }

// Ports are the host ports of the replicas in order (0 where one is not
// allocated yet): port, then replica_ports.
func (s *Service) Ports() []int {
	out := make([]int, s.ReplicaCount())
	out[0] = s.Port
	for i := 1; i < len(out) && i-1 < len(s.ReplicaPorts); i++ {
		out[i] = s.ReplicaPorts[i-1]
	}
	return out
}

// freePort is the lowest port of aima.yaml's port_range that no file
// claims and nothing on the host is bound to.
func (s *Store) freePort(claims map[int]string) (int, error) {
	set, err := s.Settings()
	if err != nil {
		return 0, err
	}
	lo, hi, err := parseRange(set.PortRange)
	if err != nil {
		return 0, err
	}
	for p := lo; p <= hi; p++ {
		if _, taken := claims[p]; taken || !hostPortFree(p) || (s.PortHeld != nil && s.PortHeld(p)) {
			continue
		}
		return p, nil
	}
	return 0, FieldError("port", "no free port in %s (set port, or port_range in aima.yaml)", set.PortRange)
}

// batchItem is an object being written in the same commit (Apply).
type batchItem struct {
	kind *Kind
	obj  Object
}

func (s *Store) inBatch(k *Kind, name string) bool {
	for _, b := range s.batch {
		if b.kind == k && b.obj.ObjectName() == name {
			return true
		}
	}
	return false
}

func parseRange(r string) (int, int, error) {
	a, b, _ := strings.Cut(r, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%w: aima.yaml: port_range %q must be FIRST-LAST within 1-65535", ErrInvalid, r)
	}
	return lo, hi, nil
}

// hostPortFree reports whether nothing on the host is bound to the TCP port.
func hostPortFree(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// portClaims maps host ports to the service or app file that claims them.
// It reads only the port fields, so it stays cheap with many files.
func (s *Store) portClaims() (map[int]string, error) {
	claims := map[int]string{}
	for _, k := range []*Kind{KindService, KindApp} {
		names, err := s.names(k)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			rel := k.Path(n)
			b, err := s.readObject(rel)
			if errors.Is(err, ErrInvalid) {
				// A link is never read; its committed version still claims.
				if r, rerr := s.gitRepo(); rerr == nil {
					b, err = r.Read("", rel)
				}
			}
			if err != nil || len(b) > MaxFileSize {
				continue
			}
			var p struct {
				Port         int      `yaml:"port"`
				ReplicaPorts []int    `yaml:"replica_ports"`
				Ports        []string `yaml:"ports"`
			}
			if yaml.Unmarshal(b, &p) != nil {
				continue
			}
			for _, hp := range append([]int{p.Port}, p.ReplicaPorts...) {
				if hp > 0 {
					claims[hp] = rel
				}
			}
			for _, hp := range p.Ports {
				h, _, _ := strings.Cut(hp, ":")
				if n, err := strconv.Atoi(h); err == nil {
					claims[n] = rel
				}
			}
		}
	}
	return claims, nil
}

// checkUnused refuses to delete a model or engine that a service uses, or
// what s.InUse says is in use.
func (s *Store) checkUnused(k *Kind, name string) error {
	if s.InUse != nil {
		if err := s.InUse(s.Dir, k, name); err != nil {
			return err
		}
	}
	if k != KindModel && k != KindEngine {
		return nil
	}
	names, err := s.names(KindService)
	if err != nil {
		return err
	}
	for _, n := range names {
		e, err := s.loadFile(KindService, n)
		if err != nil || e.Object == nil {
			continue
		}
		svc := e.Object.(*Service)
		if (k == KindModel && svc.Model == name) || (k == KindEngine && svc.Engine == name) {
			return fmt.Errorf("%s %q: %w: service %q uses it; delete or change that service first", k.Name, name, ErrConflict, n)
		}
	}
	return nil
}

// ServiceName derives a name for a service of model on engine,
// "<model>-<engine>", with -2, -3, ... appended when it is taken.
func (s *Store) ServiceName(model, engine string) string {
	base := model + "-" + engine
	if len(base) > 60 {
		base = strings.Trim(base[:60], "-._")
	}
	if !ValidName(base) {
		base = SuggestName(base)
	}
	name := base
	for i := 2; s.Exists(KindService, name); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// ResolveEngine accepts an engine name or an engine type (vllm, stub, ...)
// and returns the name of the engine to use: the engine of that name, else
// the first engine (by name) of that type.
func (s *Store) ResolveEngine(word string) (string, error) {
	if ValidName(word) && s.Exists(KindEngine, word) {
		return word, nil
	}
	all, err := s.List(KindEngine)
	if err != nil {
		return "", err
	}
	for _, e := range all {
		if eng, ok := e.Object.(*Engine); ok && eng.Type == word {
			return eng.Name, nil
		}
	}
	return "", &InvalidError{Problems: []Problem{{Field: "/engine", Message: fmt.Sprintf("no engine named or of type %q (aima engine list shows the engines)", word)}}}
}

func encodeSettings(set Settings) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# yaml-language-server: $schema=" + SchemasDir + "/settings.json\n")
	if err := encodeYAML(&b, &set); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func decodeSettings(data []byte) (Settings, error) {
	var set Settings
	v, pos, err := parseYAML("aima.yaml", data, 0)
	if err != nil {
		return set, err
	}
	if err := validate("settings", v, "aima.yaml", pos); err != nil {
		return set, err
	}
	if err := yaml.Unmarshal(data, &set); err != nil {
		return set, fmt.Errorf("aima.yaml: %w", err)
	}
	if probs := hostIPProblems(&set); len(probs) > 0 {
		for i := range probs {
			probs[i].File = "aima.yaml"
			probs[i] = withPos(probs[i], pos)
		}
		return set, &InvalidError{Problems: probs}
	}
	return set, nil
}
