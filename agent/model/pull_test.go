package model_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aima-dev/aima/agent/model"
	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

func create(t *testing.T, st *state.Store, m *state.Model) {
	t.Helper()
	if _, err := st.Create(state.KindModel, m); err != nil {
		t.Fatal(err)
	}
}

func lastCommit(t *testing.T, st *state.Store) string {
	t.Helper()
	out, err := exec.Command("git", "-C", st.Dir, "log", "-1", "--format=%s").CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func sum(b string) string {
	h := sha256.Sum256([]byte(b))
	return "sha256:" + hex.EncodeToString(h[:])
}

// hub is a small Hugging Face Hub: the revision API and resolve URLs.
func hub(t *testing.T, repo, rev string, files map[string]string, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "gated", http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/api/models/"+repo+"/revision/"+rev:
			var sib []string
			for name := range files {
				sib = append(sib, fmt.Sprintf(`{"rfilename": %q}`, name))
			}
			fmt.Fprintf(w, `{"id": %q, "siblings": [%s]}`, repo, strings.Join(sib, ","))
		case strings.HasPrefix(r.URL.Path, "/"+repo+"/resolve/"+rev+"/"):
			body, ok := files[strings.TrimPrefix(r.URL.Path, "/"+repo+"/resolve/"+rev+"/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPullHuggingFace: every file of the repo at the tag lands under the
// model's directory (nested paths too), the model's path and size are set
// in one commit, and a second pull downloads nothing and commits nothing.
func TestPullHuggingFace(t *testing.T) {
	st := testenv.NewStore(t)
	files := map[string]string{"config.json": `{"a": 1}`, "model.safetensors": strings.Repeat("w", 4096), "tokenizer/vocab.txt": "a\nb\n"}
	srv := hub(t, "org/tiny", "v1", files, "hf_secret")
	create(t, st, &state.Model{Name: "tiny", Source: "huggingface", Repo: "org/tiny", Tag: "v1"})
	env := map[string]string{"HF_ENDPOINT": srv.URL, "HF_TOKEN": "hf_secret"}
	opts := model.Options{Getenv: func(k string) string { return env[k] }}

	res, err := model.Pull(context.Background(), st, "tiny", opts)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(st.Dir, ".local", "models", "tiny")
	if res.Path != want || res.Downloaded != 3 || len(res.Files) != 3 {
		t.Errorf("result %+v, want 3 files downloaded into %s", res, want)
	}
	for name, body := range files {
		if b, err := os.ReadFile(filepath.Join(want, filepath.FromSlash(name))); err != nil || string(b) != body {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
	e, _ := st.Get(state.KindModel, "tiny")
	if m := e.Object.(*state.Model); m.Path != want || m.Size == "" {
		t.Errorf("model after pull: path %q size %q", m.Path, m.Size)
	}
	if c := lastCommit(t, st); c != "model pull: tiny" {
		t.Errorf("last commit %q", c)
	}
	head := e.Revision

	res, err = model.Pull(context.Background(), st, "tiny", opts)
	if err != nil || res.Downloaded != 0 {
		t.Errorf("second pull: %+v %v, want nothing downloaded", res, err)
	}
	if e2, _ := st.Get(state.KindModel, "tiny"); e2.Revision != head {
		t.Errorf("a second pull committed again")
	}

	// Without the token the gated repository says why.
	env["HF_TOKEN"] = ""
	create(t, st, &state.Model{Name: "tiny2", Source: "huggingface", Repo: "org/tiny", Tag: "v1"})
	if _, err := model.Pull(context.Background(), st, "tiny2", opts); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("gated pull without token: %v", err)
	}
}

// TestPullRefusesPathsOutsideTheRepo: a file list naming ../x is refused
// and nothing is written outside the model directory.
func TestPullRefusesPathsOutsideTheRepo(t *testing.T) {
	st := testenv.NewStore(t)
	srv := hub(t, "org/evil", "main", map[string]string{"../../escape.txt": "x"}, "")
	create(t, st, &state.Model{Name: "evil", Source: "huggingface", Repo: "org/evil"})
	_, err := model.Pull(context.Background(), st, "evil", model.Options{Getenv: func(k string) string {
		if k == "HF_ENDPOINT" {
			return srv.URL
		}
		return ""
	}})
	if err == nil || !strings.Contains(err.Error(), "outside the repository") {
		t.Errorf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, ".local", "escape.txt")); err == nil {
		t.Error("a file was written outside the model directory")
	}
}

// TestPullHTTP: the checksum is verified (a mismatch keeps nothing, not
// even a partial file), a cut-off body leaves nothing under the real name
// (only its .part, to resume from),
// and a good download sets the path to the file.
func TestPullHTTP(t *testing.T) {
	st := testenv.NewStore(t)
	const body = "GGUF weights"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tiny.gguf":
			fmt.Fprint(w, body)
		case "/cut.gguf":
			w.Header().Set("Content-Length", "1000")
			fmt.Fprint(w, "only a little")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := filepath.Join(state.ModelsDir(st.Dir), "downloads") // --to downloads

	create(t, st, &state.Model{Name: "bad-sum", Source: "http", URL: srv.URL + "/tiny.gguf", Checksum: sum("something else")})
	if _, err := model.Pull(context.Background(), st, "bad-sum", model.Options{Dir: "downloads"}); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("checksum mismatch: %v", err)
	}
	create(t, st, &state.Model{Name: "cut", Source: "http", URL: srv.URL + "/cut.gguf"})
	if _, err := model.Pull(context.Background(), st, "cut", model.Options{Dir: "downloads"}); err == nil {
		t.Error("a truncated download succeeded")
	}
	// Only the cut-off part is kept (for a resume), nothing under a real name.
	if left, _ := os.ReadDir(dir); len(left) != 1 || left[0].Name() != "cut.gguf.part" {
		t.Errorf("failed downloads left files: %v, want only cut.gguf.part", left)
	}

	create(t, st, &state.Model{Name: "tiny", Source: "http", URL: srv.URL + "/tiny.gguf", Checksum: sum(body)})
	res, err := model.Pull(context.Background(), st, "tiny", model.Options{Dir: "downloads"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(dir, "tiny.gguf") || res.Bytes != int64(len(body)) {
		t.Errorf("result %+v", res)
	}
	e, _ := st.Get(state.KindModel, "tiny")
	if m := e.Object.(*state.Model); m.Path != res.Path {
		t.Errorf("path %q, want %q", m.Path, res.Path)
	}
}

// TestPullOtherSources: local checks the path; ollama and modelscope say
// why they are not pulled here; each error names the field.
func TestPullOtherSources(t *testing.T) {
	st := testenv.NewStore(t)
	f := filepath.Join(state.ModelsDir(st.Dir), "w.gguf") // where the default policy allows model paths
	os.MkdirAll(filepath.Dir(f), 0o755)
	os.WriteFile(f, []byte("w"), 0o644)
	create(t, st, &state.Model{Name: "loc", Source: "local", Path: f, Checksum: sum("w")})
	if res, err := model.Pull(context.Background(), st, "loc", model.Options{}); err != nil || res.Path != f || res.Downloaded != 0 {
		t.Errorf("local: %+v %v", res, err)
	}
	create(t, st, &state.Model{Name: "gone", Source: "local", Path: filepath.Join(state.ModelsDir(st.Dir), "nonexistent.gguf")})
	create(t, st, &state.Model{Name: "ol", Source: "ollama", Repo: "tinyllama"})
	create(t, st, &state.Model{Name: "ms", Source: "modelscope", Repo: "a/b"})
	for name, field := range map[string]string{"gone": "/path", "ol": "/source", "ms": "/source"} {
		_, err := model.Pull(context.Background(), st, name, model.Options{})
		var inv *state.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want an invalid %s", name, err, field)
		}
	}
	if _, err := model.Pull(context.Background(), st, "nope", model.Options{}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("missing model: %v", err)
	}
}

// TestPullResumes: a download cut off half-way is resumed with a Range
// request for the rest, and the file is whole (its checksum holds); the
// progress callback counts from what was there to the file's size. A
// server that ignores Range sends the whole file again, which replaces
// the part.
func TestPullResumes(t *testing.T) {
	st := testenv.NewStore(t)
	body := strings.Repeat("0123456789", 10000)
	var ranges []string
	cut, ignoreRange := true, false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges = append(ranges, r.Header.Get("Range"))
		if cut {
			cut = false
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			fmt.Fprint(w, body[:40000])
			return // the connection ends short
		}
		if ignoreRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "w.gguf", time.Time{}, strings.NewReader(body))
	}))
	defer srv.Close()
	create(t, st, &state.Model{Name: "w", Source: "http", URL: srv.URL + "/w.gguf", Checksum: sum(body)})
	if _, err := model.Pull(context.Background(), st, "w", model.Options{}); err == nil || !strings.Contains(err.Error(), "pull again to resume") {
		t.Fatalf("cut-off pull: %v", err)
	}
	var first, last [2]int64
	progress := func(_ string, done, total int64) {
		if first == [2]int64{} {
			first = [2]int64{done, total}
		}
		last = [2]int64{done, total}
	}
	res, err := model.Pull(context.Background(), st, "w", model.Options{Bytes: progress})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(res.Path); string(got) != body {
		t.Errorf("the resumed file has %d bytes, want the %d of the body", len(got), len(body))
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes=40000-" {
		t.Errorf("requests' Range headers %q, want none then bytes=40000-", ranges)
	}
	n := int64(len(body))
	if first[0] < 40000 || last != [2]int64{n, n} {
		t.Errorf("progress went from %v to %v, want from 40000 on to %d of %d", first, last, n, n)
	}

	// A server without Range support: the part is replaced by the whole file.
	create(t, st, &state.Model{Name: "w2", Source: "http", URL: srv.URL + "/w2.gguf", Checksum: sum(body)})
	cut, ignoreRange = true, true
	model.Pull(context.Background(), st, "w2", model.Options{})
	res, err = model.Pull(context.Background(), st, "w2", model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(res.Path); string(got) != body {
		t.Errorf("without Range support the file has %d bytes, want %d", len(got), len(body))
	}
}

// TestPullHuggingFaceSkipsOtherCopies: Meta's original/ checkpoints, ONNX
// exports and PyTorch pickles beside safetensors are not downloaded (they
// would double a Llama pull); a repository without safetensors keeps its
// pickle, which is then the weights.
func TestPullHuggingFaceSkipsOtherCopies(t *testing.T) {
	st := testenv.NewStore(t)
	files := map[string]string{"config.json": "{}", "model.safetensors": "st", "pytorch_model.bin": "pt",
		"original/consolidated.00.pth": "orig", "onnx/model.onnx": "onnx", "flax_model.msgpack": "flax"}
	srv := hub(t, "org/llama", "main", files, "")
	old := hub(t, "org/old", "main", map[string]string{"config.json": "{}", "pytorch_model.bin": "pt", "onnx/model.onnx": "onnx"}, "")
	create(t, st, &state.Model{Name: "llama", Source: "huggingface", Repo: "org/llama"})
	create(t, st, &state.Model{Name: "old", Source: "huggingface", Repo: "org/old"})
	for name, want := range map[string]string{"llama": "config.json,model.safetensors", "old": "config.json,pytorch_model.bin"} {
		endpoint := srv.URL
		if name == "old" {
			endpoint = old.URL
		}
		res, err := model.Pull(context.Background(), st, name, model.Options{Getenv: func(k string) string {
			return map[string]string{"HF_ENDPOINT": endpoint}[k]
		}})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(res.Files)
		if got := strings.Join(res.Files, ","); got != want {
			t.Errorf("%s: pulled %s, want %s", name, got, want)
		}
	}
}
