package skill_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aima-dev/aima/agent/skill"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

func names(hits []skill.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Skill.Name)
	}
	return out
}

func TestSearchRanking(t *testing.T) {
	st := testenv.NewStore(t)
	for _, s := range []*state.Skill{
		{Name: "quantize", Description: "Shrink a model", Keywords: []string{"gguf", "quantization"}, Content: "Use llama.cpp's quantize tool."},
		{Name: "notes", Description: "Misc notes", Content: "Remember to quantize big models and to check gguf files."},
		{Name: "gguf-basics", Description: "What GGUF is", Priority: 1},
		{Name: "gguf-advanced", Description: "Deeper GGUF", Priority: 5},
	} {
		if _, err := st.Create(state.KindSkill, s); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := skill.Search(st, "gguf")
	if err != nil {
		t.Fatal(err)
	}
	// The built-in skills mention gguf too; only ours are compared.
	var ours []skill.Hit
	for _, h := range hits {
		if h.Entry.Source == state.SourceFile {
			ours = append(ours, h)
		}
	}
	// Name hits (ties broken by priority), then a keyword hit, then a content hit.
	if diff := cmp.Diff([]string{"gguf-advanced", "gguf-basics", "quantize", "notes"}, names(ours)); diff != "" {
		t.Errorf("ranking (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"content"}, ours[3].Matched); diff != "" {
		t.Errorf("notes matched (-want +got):\n%s", diff)
	}
	// Built-ins are searched too.
	hits, _ = skill.Search(st, "engine")
	if len(hits) == 0 || hits[0].Skill.Name != "choose-engine" || hits[0].Entry.Source != state.SourceBuiltin {
		t.Errorf("engine search: %v", names(hits))
	}
	if _, err := skill.Search(st, "  "); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("empty query: %v", err)
	}
}

func TestDisableExcludes(t *testing.T) {
	st := testenv.NewStore(t)
	// A built-in: disabling it writes an override file, in one commit.
	if _, err := skill.SetEnabled(st, "choose-engine", false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(st.Dir, "skills", "choose-engine.md"))
	if err != nil || !strings.Contains(string(b), "enabled: false") {
		t.Fatalf("override file: %v\n%s", err, b)
	}
	rp, _ := st.Repo()
	log, _ := rp.Log("", 1)
	if log[0].Message != "skill disable: choose-engine" {
		t.Errorf("commit %q", log[0].Message)
	}
	hits, _ := skill.Search(st, "engine")
	for _, n := range names(hits) {
		if n == "choose-engine" {
			t.Errorf("a disabled skill was found: %v", names(hits))
		}
	}
	// Disabling again commits nothing; enabling brings it back.
	if _, err := skill.SetEnabled(st, "choose-engine", false); err != nil {
		t.Fatal(err)
	}
	if again, _ := rp.Log("", 0); again[0].Hash != log[0].Hash {
		t.Errorf("a no-op disable committed %q", again[0].Message)
	}
	if _, err := skill.SetEnabled(st, "choose-engine", true); err != nil {
		t.Fatal(err)
	}
	if hits, _ := skill.Search(st, "engine"); len(hits) == 0 || hits[0].Skill.Name != "choose-engine" {
		t.Errorf("after enable: %v", names(hits))
	}
	if _, err := skill.SetEnabled(st, "no-such-skill", false); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("unknown skill: %v", err)
	}
}
