package state_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aima-dev/aima/state"
)

// seed writes n model files and commits them with one git commit.
func seed(b *testing.B, n int) *state.Store {
	b.Helper()
	st, err := state.Open(filepath.Join(b.TempDir(), ".aima"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Init(); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(st.Dir, "models")
	os.MkdirAll(dir, 0o755)
	for i := range n {
		data := fmt.Sprintf("# yaml-language-server: $schema=%smodel.json\nname: m%05d\nsource: huggingface\nrepo: org/model-%d\ntype: llm\nlabels:\n  team: a\n", state.SchemaBase, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%05d.yaml", i)), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, args := range [][]string{{"add", "-A"}, {"-c", "user.name=b", "-c", "user.email=b@b", "-c", "gc.auto=0", "commit", "-qm", "seed"}} {
		if out, err := exec.Command("git", append([]string{"-C", st.Dir}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return st
}

// BenchmarkLoadValidate loads and validates every file of a directory of
// n objects, as the agent does at start and `list` does.
func BenchmarkLoadValidate(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			st := seed(b, n)
			b.ResetTimer()
			for range b.N {
				entries, err := st.List(state.KindModel)
				if err != nil || len(entries) != n {
					b.Fatalf("%d entries, %v", len(entries), err)
				}
			}
		})
	}
}

// BenchmarkCreate is one create (validate, atomic write, commit) into a
// repository already holding n objects; it must not grow with n.
func BenchmarkCreate(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			st := seed(b, n)
			b.ResetTimer()
			for i := range b.N {
				if _, err := st.Create(state.KindModel, &state.Model{Name: fmt.Sprintf("new%06d", i), Source: "ollama", Repo: "tinyllama"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
