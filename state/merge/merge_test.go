package merge

import (
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree builds a path → hash map from pairs: tree("a", "1", "b", "2").
func tree(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name               string
		ours, theirs, base string
		want               Outcome
	}{
		{"same commit", "c1", "c1", "c1", UpToDate},
		{"theirs in our history", "c2", "c1", "c1", Ahead},
		{"no commit here", "", "c1", "", FastForward},
		{"ours in their history", "c1", "c2", "c1", FastForward},
		{"both have commits", "c2", "c3", "c1", Merge},
		{"no shared history", "c1", "c2", "", Merge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.ours, tt.theirs, tt.base); got != tt.want {
				t.Errorf("Classify(%q, %q, %q) = %q, want %q", tt.ours, tt.theirs, tt.base, got, tt.want)
			}
		})
	}
}

// A fast-forward's ours is its base: these tests give the commits c1 (base
// and ours) and c2 (theirs), or c1 (base), c2 (ours) and c3 (theirs) for a
// merge.
func TestDecide(t *testing.T) {
	base := tree("aima.yaml", "s1", "models/a.yaml", "a1", "models/b.yaml", "b1", "models/c.yaml", "c1")
	ff := func(theirs map[string]string) Input {
		return Input{Ours: "c1", Theirs: "c2", Base: "c1", OursTree: base, TheirsTree: theirs, BaseTree: base}
	}
	mergeOf := func(ours, theirs map[string]string) Input {
		return Input{Ours: "c2", Theirs: "c3", Base: "c1", OursTree: ours, TheirsTree: theirs, BaseTree: base}
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		m = maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	// dirty sets the work tree of in to its ours tree, then applies kv.
	dirty := func(in Input, kv ...string) Input {
		in.WorkTree = with(in.OursTree, kv...)
		return in
	}
	clean := func(in Input) Input { return dirty(in) }
	resolve := func(in Input, r Resolve) Input {
		in.Resolve = r
		return in
	}
	bothChanged := mergeOf(with(base, "models/a.yaml", "a-ours"), with(base, "models/a.yaml", "a-theirs"))

	tests := []struct {
		name string
		in   Input
		want string
	}{
		{
			name: "up to date",
			in:   Input{Ours: "c1", Theirs: "c1", Base: "c1", OursTree: base, TheirsTree: base},
			want: "up to date\n",
		},
		{
			name: "ahead: nothing read",
			in:   Input{Ours: "c2", Theirs: "c1", Base: "c1", OursTree: base, TheirsTree: tree("models/x.yaml", "x")},
			want: "ahead\n",
		},
		{
			name: "first pull into an empty branch",
			in:   Input{Theirs: "c1", TheirsTree: tree("aima.yaml", "s1", "models/a.yaml", "a1")},
			want: "fast-forward\n" +
				"write aima.yaml (added in theirs)\n" +
				"write models/a.yaml (added in theirs)\n",
		},
		{
			name: "fast-forward adds, changes and deletes",
			in:   clean(ff(with(base, "models/a.yaml", "a2", "models/b.yaml", "", "models/d.yaml", "d1"))),
			want: "fast-forward\n" +
				"write models/a.yaml (changed in theirs)\n" +
				"delete models/b.yaml (deleted in theirs)\n" +
				"write models/d.yaml (added in theirs)\n",
		},
		{
			name: "fast-forward with no file changed",
			in:   clean(ff(base)),
			want: "fast-forward\n",
		},
		{
			name: "fast-forward over an uncommitted edit",
			in:   dirty(ff(with(base, "models/a.yaml", "a2")), "models/a.yaml", "a-edited"),
			want: "fast-forward\n" +
				"conflict models/a.yaml (uncommitted change here)\n",
		},
		{
			name: "fast-forward over an uncommitted delete",
			in:   dirty(ff(with(base, "models/a.yaml", "a2")), "models/a.yaml", ""),
			want: "fast-forward\n" +
				"conflict models/a.yaml (uncommitted change here)\n",
		},
		{
			name: "fast-forward onto an uncommitted file that is theirs already",
			in:   dirty(ff(with(base, "models/d.yaml", "d1")), "models/d.yaml", "d1"),
			want: "fast-forward\n" +
				"write models/d.yaml (added in theirs)\n",
		},
		{
			name: "uncommitted edit elsewhere does not matter",
			in:   dirty(ff(with(base, "models/a.yaml", "a2")), "models/b.yaml", "b-edited"),
			want: "fast-forward\n" +
				"write models/a.yaml (changed in theirs)\n",
		},
		{
			name: "uncommitted edit, resolved ours",
			in:   resolve(dirty(ff(with(base, "models/a.yaml", "a2")), "models/a.yaml", "a-edited"), Ours),
			want: "fast-forward\n" +
				"keep models/a.yaml (uncommitted change here; resolved ours)\n",
		},
		{
			name: "uncommitted edit, resolved theirs",
			in:   resolve(dirty(ff(with(base, "models/a.yaml", "a2")), "models/a.yaml", "a-edited"), Theirs),
			want: "fast-forward\n" +
				"write models/a.yaml (changed in theirs; replaces an uncommitted change here)\n",
		},
		{
			name: "merge of different files",
			in: clean(mergeOf(
				with(base, "models/a.yaml", "a-ours", "models/x.yaml", "x"),
				with(base, "models/b.yaml", "b-theirs", "models/c.yaml", "", "models/y.yaml", "y"))),
			want: "merge\n" +
				"write models/b.yaml (changed in theirs)\n" +
				"delete models/c.yaml (deleted in theirs)\n" +
				"write models/y.yaml (added in theirs)\n",
		},
		{
			name: "merge of the same edit on both sides",
			in:   clean(mergeOf(with(base, "models/a.yaml", "a2"), with(base, "models/a.yaml", "a2"))),
			want: "merge\n",
		},
		{
			name: "changed on both sides",
			in:   clean(bothChanged),
			want: "merge\n" +
				"conflict models/a.yaml (changed on both sides)\n",
		},
		{
			name: "changed on both sides, resolved ours",
			in:   resolve(clean(bothChanged), Ours),
			want: "merge\n" +
				"keep models/a.yaml (changed on both sides; resolved ours)\n",
		},
		{
			name: "changed on both sides, resolved theirs",
			in:   resolve(clean(bothChanged), Theirs),
			want: "merge\n" +
				"write models/a.yaml (changed on both sides; resolved theirs)\n",
		},
		{
			name: "changed on both sides and edited here, resolved theirs",
			in:   resolve(dirty(bothChanged, "models/a.yaml", "a-edited"), Theirs),
			want: "merge\n" +
				"write models/a.yaml (changed on both sides; resolved theirs; replaces an uncommitted change here)\n",
		},
		{
			name: "deleted here, changed there",
			in:   clean(mergeOf(with(base, "models/a.yaml", ""), with(base, "models/a.yaml", "a-theirs"))),
			want: "merge\n" +
				"conflict models/a.yaml (changed on both sides)\n",
		},
		{
			name: "changed here, deleted there, resolved theirs",
			in:   resolve(clean(mergeOf(with(base, "models/a.yaml", "a-ours"), with(base, "models/a.yaml", ""))), Theirs),
			want: "merge\n" +
				"delete models/a.yaml (changed on both sides; resolved theirs)\n",
		},
		{
			name: "added on both sides differently",
			in:   clean(mergeOf(with(base, "models/x.yaml", "x-ours"), with(base, "models/x.yaml", "x-theirs"))),
			want: "merge\n" +
				"conflict models/x.yaml (changed on both sides)\n",
		},
		{
			name: "merge: only theirs changed it, but it is edited here",
			in:   dirty(mergeOf(with(base, "models/a.yaml", "a-ours"), with(base, "models/b.yaml", "b-theirs")), "models/b.yaml", "b-edited"),
			want: "merge\n" +
				"conflict models/b.yaml (uncommitted change here)\n",
		},
		{
			name: "merge: only we changed it, edited again here",
			in:   dirty(mergeOf(with(base, "models/a.yaml", "a-ours"), with(base, "models/b.yaml", "b-theirs")), "models/a.yaml", "a-edited"),
			want: "merge\n" +
				"write models/b.yaml (changed in theirs)\n",
		},
		{
			name: "no shared history: every difference is changed on both sides",
			in: clean(Input{Ours: "c1", Theirs: "c9",
				OursTree: tree("aima.yaml", "s1", "models/a.yaml", "a1"), TheirsTree: tree("aima.yaml", "s9", "models/a.yaml", "a1", "models/z.yaml", "z")}),
			want: "merge\n" +
				"conflict aima.yaml (changed on both sides)\n" +
				"write models/z.yaml (added in theirs)\n",
		},
		{
			name: "an unknown resolution refuses",
			in:   resolve(clean(bothChanged), "mine"),
			want: "merge\n" +
				"conflict models/a.yaml (changed on both sides)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Decide(tt.in).String()); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanAccessors(t *testing.T) {
	p := Plan{Outcome: Merge, Steps: []Step{
		{Path: "a", Action: Write}, {Path: "b", Action: Keep}, {Path: "c", Action: Delete},
		{Path: "d", Action: Conflict}, {Path: "e", Action: Keep},
	}}
	if diff := cmp.Diff([]Step{{Path: "a", Action: Write}, {Path: "c", Action: Delete}}, p.Changes()); diff != "" {
		t.Errorf("Changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "e"}, p.Kept()); diff != "" {
		t.Errorf("Kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d"}, p.Conflicts()); diff != "" {
		t.Errorf("Conflicts (-want +got):\n%s", diff)
	}
}

func TestDecideLeavesInput(t *testing.T) {
	in := Input{Ours: "c2", Theirs: "c3", Base: "c1",
		OursTree: tree("a", "1", "b", "2"), TheirsTree: tree("a", "3", "c", "4"), BaseTree: tree("a", "0"),
		WorkTree: tree("a", "1", "b", "2"), Resolve: Theirs}
	want := Input{Ours: "c2", Theirs: "c3", Base: "c1",
		OursTree: tree("a", "1", "b", "2"), TheirsTree: tree("a", "3", "c", "4"), BaseTree: tree("a", "0"),
		WorkTree: tree("a", "1", "b", "2"), Resolve: Theirs}
	Decide(in)
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("Decide changed its input (-want +got):\n%s", diff)
	}
}
