package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aima-dev/aima/state/repo"
)

// Recorded is the outcome of Record: what was committed and what was not.
type Recorded struct {
	Paths    []string  // paths committed (changed, added or deleted)
	Problems []Problem // invalid files, not committed
	// Ports are the host ports allocated to services written without one,
	// by path; each is written into its file and committed with it.
	Ports map[string]int
}

// Record commits the object files that differ from the last commit because
// they were changed outside aima (an editor, cp, git checkout) or because a
// crash hit between a write and its commit. Valid files are committed in one
// commit ("edit: <path>"); invalid ones are left uncommitted and reported,
// so the last committed version stays in effect. paths limits the check to
// those state-directory paths; nil checks the whole directory.
func (s *Store) Record(paths []string) (Recorded, error) {
	var out Recorded
	if err := s.repoMissing(); err != nil {
		return out, err // never a new, empty history (see RepoMarkerPath)
	}
	if !s.Initialized() {
		return out, nil
	}
	err := s.commitPlan(func() ([]repo.Change, string, error) {
		r, err := s.gitRepo()
		if err != nil {
			return nil, "", err
		}
		// committed returns the blob hash of rel in the last commit. A full
		// check reads the whole tree once; a check of a few paths (the
		// watcher's) looks only at those, so it stays cheap in a large repo.
		var committed func(rel string) string
		if paths == nil {
			tree, err := r.Tree("")
			if err != nil && !errors.Is(err, repo.ErrNoCommits) {
				return nil, "", err
			}
			s.removeTempFiles()
			paths = s.allObjectPaths(tree)
			committed = func(rel string) string { return tree[rel] }
		} else {
			committed = func(rel string) string {
				b, err := r.Read("", rel)
				if err != nil {
					return ""
				}
				return repo.BlobHash(b)
			}
		}
		var changes []repo.Change
		var claims map[int]string // host ports claimed by files, read once when a service needs a port
		var notes []string        // replica ports given or dropped, for the commit message
		for _, rel := range dedupe(paths) {
			if kindOfDir(rel) != nil {
				// A kind directory replaced by a link (the watcher reports
				// it as a file): reported, never followed.
				if err := CheckKindDir(s.path(rel), rel); err != nil {
					out.Problems = append(out.Problems, Problems(err)...)
				}
				continue
			}
			k, _, ok := KindOfPath(rel)
			if !ok && rel != "aima.yaml" {
				continue
			}
			b, err := s.readObject(rel) // a link is reported, never read or committed
			var ie *InvalidError
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if committed(rel) != "" {
					changes = append(changes, repo.Change{Path: rel, Delete: true})
				}
				continue
			case errors.As(err, &ie):
				out.Problems = append(out.Problems, ie.Problems...)
				continue
			case err != nil:
				return nil, "", err
			}
			if committed(rel) == repo.BlobHash(b) {
				continue
			}
			var o Object
			if rel == "aima.yaml" {
				_, err = decodeSettings(b)
			} else {
				o, err = s.Decode(k, rel, b)
			}
			if err != nil {
				out.Problems = append(out.Problems, Problems(err)...)
				continue
			}
			// A service written without a port gets one here, as
			// `service create` gives it one: the lowest free port that no
			// file claims, written into the file and committed with the
			// edit, so it never changes again. (With none free the file is
			// committed as it is and its status says it has no port.)
			if svc, ok := o.(*Service); ok && missingPorts(svc) {
				if claims == nil {
					if claims, err = s.portClaims(); err != nil {
						return nil, "", err
					}
				}
				had := *svc
				if err := s.allocatePorts(svc, nil, claims); err == nil {
					if nb, err := s.withPorts(rel, b, svc); err == nil {
						if err := WriteFile(s.path(rel), nb); err != nil {
							return nil, "", err
						}
						b = nb
						if had.Port == 0 {
							if out.Ports == nil {
								out.Ports = map[string]int{}
							}
							out.Ports[rel] = svc.Port
						}
						if !slices.Equal(had.ReplicaPorts, svc.ReplicaPorts) {
							notes = append(notes, fmt.Sprintf("replica_ports %v for %s", svc.ReplicaPorts, rel))
						}
					}
				}
			}
			changes = append(changes, repo.Change{Path: rel, Data: b})
		}
		for _, c := range changes {
			out.Paths = append(out.Paths, c.Path)
		}
		msg := editMessage(out.Paths)
		if len(out.Ports) > 0 || len(notes) > 0 {
			var lines []string
			for rel, p := range out.Ports {
				lines = append(lines, fmt.Sprintf("port %d allocated for %s", p, rel))
			}
			lines = append(lines, notes...)
			sort.Strings(lines)
			msg += "\n\n" + strings.Join(lines, "\n")
		}
		return changes, msg, nil
	}, false)
	return out, err
}

// missingPorts reports whether a service file lacks a host port it needs
// (port, or one in replica_ports per replica past the first) or lists more
// replica ports than it has replicas.
func missingPorts(svc *Service) bool {
	return svc.Port == 0 || len(svc.ReplicaPorts) != svc.ReplicaCount()-1 || slices.Contains(svc.ReplicaPorts, 0)
}

// withPorts returns a service file's data with svc's port and
// replica_ports, keeping what was written as it was (comments, key order,
// quoting): a block mapping that only lacked its port gets a "port: N" line
// at its end. Anything else (replica ports, flow style, a port key that is
// there but empty) is re-encoded from its YAML nodes, and failing that from
// the object. The result is checked to load back with those ports.
func (s *Store) withPorts(rel string, data []byte, svc *Service) ([]byte, error) {
	ok := func(b []byte) bool {
		o, err := s.Decode(KindService, rel, b)
		got, _ := o.(*Service)
		return err == nil && got != nil && got.Port == svc.Port && slices.Equal(got.ReplicaPorts, svc.ReplicaPorts)
	}
	intNode := func(n int) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)} }
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		var seq *yaml.Node
		if len(svc.ReplicaPorts) > 0 {
			seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			for _, p := range svc.ReplicaPorts {
				seq.Content = append(seq.Content, intNode(p))
			}
		}
		set := map[string]*yaml.Node{"port": intNode(svc.Port), "replica_ports": seq}
		// Nothing to change but a port to add: a line at the end will do.
		o, _ := s.Decode(KindService, rel, data)
		was, _ := o.(*Service)
		onlyPort := was != nil && was.Port == 0 && slices.Equal(was.ReplicaPorts, svc.ReplicaPorts)
		for i := 0; i+1 < len(m.Content); i += 2 {
			key := m.Content[i].Value
			if v, found := set[key]; found {
				if v == nil {
					m.Content = append(m.Content[:i], m.Content[i+2:]...)
					i -= 2
				} else {
					m.Content[i+1] = v
				}
				delete(set, key)
			}
		}
		if _, portAbsent := set["port"]; onlyPort && portAbsent && m.Style&yaml.FlowStyle == 0 && len(m.Content) > 0 {
			b := bytes.TrimRight(data, " \t\r\n")
			indent := strings.Repeat(" ", max(m.Content[0].Column-1, 0))
			b = fmt.Appendf(append([]byte{}, b...), "\n%sport: %d\n", indent, svc.Port)
			if ok(b) {
				return b, nil
			}
		}
		for _, key := range []string{"port", "replica_ports"} {
			if v := set[key]; v != nil {
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
			}
		}
		if b, err := yaml.Marshal(&doc); err == nil && ok(b) {
			return b, nil
		}
	}
	b, err := KindService.Encode(svc)
	if err != nil {
		return nil, err
	}
	if !ok(b) {
		return nil, fmt.Errorf("%s: the ports could not be written into the file", rel)
	}
	return b, nil
}

// removeTempFiles removes the temporary files of atomic writes (WriteFile's
// ".<name>.tmp-XXXX") and the backups of writes in progress (writeUndo's
// ".<name>.undo-XXXX") that a process killed mid-write left behind. It
// runs under the write lock, so no live writer owns one.
func (s *Store) removeTempFiles() {
	dirs := []string{"."}
	for _, k := range Kinds {
		dirs = append(dirs, k.Dir)
	}
	for _, d := range dirs {
		if d != "." && CheckKindDir(s.path(d), d) != nil {
			continue // a link: nothing outside the state directory is touched
		}
		des, _ := os.ReadDir(s.path(d))
		for _, de := range des {
			if n := de.Name(); !de.IsDir() && isWriteLeftover(n) {
				os.Remove(s.path(d + "/" + n))
			}
		}
	}
}

func editMessage(paths []string) string {
	switch len(paths) {
	case 0:
		return ""
	case 1:
		return "edit: " + paths[0]
	}
	return fmt.Sprintf("edit: %d files (%s)", len(paths), strings.Join(paths, ", "))
}

// allObjectPaths lists every object file on disk and in the last commit.
// A kind directory that is a link (or not a directory) is listed itself,
// not followed, so that Record reports it.
func (s *Store) allObjectPaths(tree map[string]string) []string {
	var out []string
	for p := range tree {
		out = append(out, p)
	}
	out = append(out, "aima.yaml")
	for _, k := range Kinds {
		if err := CheckKindDir(s.path(k.Dir), k.Dir); err != nil {
			out = append(out, k.Dir)
			continue
		}
		des, _ := os.ReadDir(s.path(k.Dir))
		for _, de := range des {
			if !de.IsDir() {
				out = append(out, k.Dir+"/"+de.Name())
			}
		}
	}
	return out
}

func dedupe(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, p := range in {
		if i == 0 || p != in[i-1] {
			out = append(out, p)
		}
	}
	return out
}
