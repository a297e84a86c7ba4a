// Package merge decides what a pull does to a state directory. Given the
// commits of both sides and their merge base (Classify), and for a
// fast-forward or a merge the three trees, the work tree's copy of the
// paths that differ and how conflicts are settled (Decide), it returns a
// Plan: the outcome, and for each path that changes a step with its cause.
//
// It decides and does nothing: no git, no files, no clock. The trees are
// path → blob hash maps, as git names file contents. state.Store.Pull
// reads the inputs, validates the incoming files, and applies the plan; what
// a file may contain, and whether a signature or a rewritten history is
// trusted, are its business, not this package's.
//
// The rules, for each path whose hash differs between ours and theirs:
//
//   - A fast-forward (ours is an ancestor of theirs, or there is no ours)
//     takes theirs: write it, or delete it when theirs has none.
//   - In a merge, a path theirs did not change since the base is ours
//     already: nothing to do. One only theirs changed is taken. One both
//     sides changed (differently) is a conflict; Resolve Ours keeps ours,
//     Theirs takes theirs.
//   - A path to be taken whose work-tree file is neither ours nor theirs
//     (an edit not committed here, maybe invalid) is never overwritten: a
//     conflict, kept with Resolve Ours, overwritten with Resolve Theirs.
package merge

import (
	"fmt"
	"sort"
	"strings"
)

// Outcome is what a pull amounts to, from the commits alone.
type Outcome string

// Outcomes, as aima pull prints them.
const (
	UpToDate    Outcome = "up to date"   // ours is theirs: nothing new
	Ahead       Outcome = "ahead"        // theirs is in ours' history already
	FastForward Outcome = "fast-forward" // ours is in theirs' history (or there is no ours): move to theirs
	Merge       Outcome = "merge"        // both sides have commits: a merge commit joins them
)

// Classify is the outcome of integrating commit theirs into ours ("" when
// the branch has no commit yet), whose merge base is base ("" when they
// share no history, or there is no ours).
func Classify(ours, theirs, base string) Outcome {
	switch {
	case ours == theirs:
		return UpToDate
	case ours != "" && base == theirs:
		return Ahead
	case ours == "" || base == ours:
		return FastForward
	}
	return Merge
}

// Resolve settles the paths changed differently on both sides.
type Resolve string

// Resolutions.
const (
	Refuse Resolve = ""       // leave them as conflicts: nothing is applied
	Ours   Resolve = "ours"   // keep the local file
	Theirs Resolve = "theirs" // take the incoming file
)

// Input is what Decide reads. Every map is path → blob hash; a path missing
// from a map has no file there.
type Input struct {
	Ours, Theirs, Base string // commits, as for Classify

	OursTree, TheirsTree, BaseTree map[string]string

	// WorkTree is the hash of the file in the work tree at each path of
	// Changed(OursTree, TheirsTree); a path missing from it has no file.
	WorkTree map[string]string

	Resolve Resolve
}

// Action is what a step does to a path.
type Action int

// Actions. The zero Action is none of them.
const (
	Write    Action = iota + 1 // write theirs' file into the work tree
	Delete                     // delete the file: theirs has none
	Keep                       // keep ours, though theirs differs (Resolve Ours)
	Conflict                   // changed on both sides, unsettled: the pull is refused
)

func (a Action) String() string {
	switch a {
	case Write:
		return "write"
	case Delete:
		return "delete"
	case Keep:
		return "keep"
	case Conflict:
		return "conflict"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Step is what the plan does to one path, and why.
type Step struct {
	Path   string
	Action Action
	Cause  string // for humans: "changed in theirs", "uncommitted change here"
}

func (s Step) String() string {
	return fmt.Sprintf("%s %s (%s)", s.Action, s.Path, s.Cause)
}

// Plan is the outcome of Decide.
type Plan struct {
	Outcome Outcome
	Steps   []Step // sorted by path; none for UpToDate and Ahead
}

// Changes are the Write and Delete steps: what applying the plan does to
// the work tree, and what the fast-forward or merge commit records.
func (p Plan) Changes() []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Action == Write || s.Action == Delete {
			out = append(out, s)
		}
	}
	return out
}

// Kept are the paths where ours stays although theirs differs.
func (p Plan) Kept() []string { return p.paths(Keep) }

// Conflicts are the paths that refuse the pull.
func (p Plan) Conflicts() []string { return p.paths(Conflict) }

func (p Plan) paths(a Action) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Action == a {
			out = append(out, s.Path)
		}
	}
	return out
}

// String prints the outcome, then one step a line:
//
//	merge
//	write models/a.yaml (added in theirs)
//	delete models/b.yaml (deleted in theirs)
//	keep models/c.yaml (changed on both sides; resolved ours)
//	conflict models/d.yaml (uncommitted change here)
func (p Plan) String() string {
	var b strings.Builder
	b.WriteString(string(p.Outcome))
	b.WriteByte('\n')
	for _, s := range p.Steps {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Changed are the paths whose hash differs between ours and theirs, sorted:
// the paths whose work-tree file Decide needs to know.
func Changed(ours, theirs map[string]string) []string {
	var out []string
	for p, h := range ours {
		if theirs[p] != h {
			out = append(out, p)
		}
	}
	for p := range theirs {
		if _, ok := ours[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Decide plans the integration of in.Theirs into in.Ours by the rules in
// the package comment. It does not change its input.
func Decide(in Input) Plan {
	p := Plan{Outcome: Classify(in.Ours, in.Theirs, in.Base)}
	if p.Outcome == UpToDate || p.Outcome == Ahead {
		return p
	}
	merging := p.Outcome == Merge
	for _, path := range Changed(in.OursTree, in.TheirsTree) {
		o, t := in.OursTree[path], in.TheirsTree[path]
		take := Step{Path: path, Action: Write, Cause: "changed in theirs"}
		switch {
		case t == "":
			take.Action, take.Cause = Delete, "deleted in theirs"
		case o == "":
			take.Cause = "added in theirs"
		}
		if merging {
			b := in.BaseTree[path]
			if t == b {
				continue // only we changed it
			}
			if o != b {
				switch in.Resolve {
				case Ours:
					p.Steps = append(p.Steps, Step{Path: path, Action: Keep, Cause: "changed on both sides; resolved ours"})
				case Theirs:
					take.Cause = "changed on both sides; resolved theirs"
					p.Steps = append(p.Steps, overwrite(take, in.WorkTree[path], o, t))
				default:
					p.Steps = append(p.Steps, Step{Path: path, Action: Conflict, Cause: "changed on both sides"})
				}
				continue
			}
		}
		// An edit here that is not committed yet (invalid, or not seen by
		// the agent) is a local change too: never overwrite it unasked.
		if wt := in.WorkTree[path]; wt != o && wt != t {
			switch in.Resolve {
			case Ours:
				p.Steps = append(p.Steps, Step{Path: path, Action: Keep, Cause: "uncommitted change here; resolved ours"})
				continue
			case Theirs:
			default:
				p.Steps = append(p.Steps, Step{Path: path, Action: Conflict, Cause: "uncommitted change here"})
				continue
			}
		}
		p.Steps = append(p.Steps, overwrite(take, in.WorkTree[path], o, t))
	}
	return p
}

// overwrite notes in a step that takes theirs that it replaces a change not
// committed here (work-tree hash wt, neither ours o nor theirs t).
func overwrite(s Step, wt, o, t string) Step {
	if wt != o && wt != t {
		s.Cause += "; replaces an uncommitted change here"
	}
	return s
}
