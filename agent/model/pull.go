// Package model downloads model weights: `aima model pull`.
//
// What it does per source, and why:
//   - http: the file at url is downloaded; a checksum (sha256:HEX) in the
//     model file is verified before the file is kept.
//   - huggingface: the files of repo at tag (default main) are downloaded
//     through the Hub's HTTP API ($HF_ENDPOINT, default
//     https://huggingface.co; $HF_TOKEN for gated repos), the layout vLLM
//     and SGLang load from a directory; copies of the weights that no such
//     engine loads (original/ checkpoints, ONNX, PyTorch pickles beside
//     safetensors, ...) are left out (see servable).
//   - local: nothing is downloaded; the path must exist (and match its
//     checksum when it is one file).
//   - ollama and modelscope: refused with the reason. Ollama models are
//     pulled by the ollama engine itself (it stores them in its own volume);
//     ModelScope's API is not implemented.
//
// Weights go to .aima/.local/models/<name>/ (never in git), or to another
// directory under .aima/.local/models/ (Options.Dir, `--to`; a relative one
// is taken from there): a pull never writes anywhere else, so a request
// cannot use it to drop files into the host (see Target). The model file's path (and size, when empty) is set
// in one commit, so services of the model are recreated with the weights
// mounted. A file already present is not downloaded again; a download is
// written to a .part file and renamed when complete, so an interrupted
// pull never leaves a truncated file under its real name.
package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aima-dev/aima/state"
)

// Result is what a pull did.
type Result struct {
	Path       string   `json:"path"`       // what the model's path now is
	Files      []string `json:"files"`      // files under Path (relative), or Path's base name
	Downloaded int      `json:"downloaded"` // files fetched now (the others were present)
	Bytes      int64    `json:"bytes"`      // bytes of all the files
}

// Options configure Pull.
type Options struct {
	// Dir is where the weights go: a directory under .aima/.local/models/
	// (default .aima/.local/models/<name>; a relative Dir is taken from
	// .aima/.local/models/). Anything else is refused (see Target).
	Dir string
	// Client does the downloads (default: no overall timeout; weights are
	// large, and ctx bounds the pull).
	Client *http.Client
	// Getenv reads HF_ENDPOINT and HF_TOKEN (default os.Getenv).
	Getenv func(string) string
	// Progress, when set, is told about each file.
	Progress func(string)
	// Bytes, when set, is told how a download goes: the file, the bytes
	// so far (a resumed one starts at what it had) and the file's size
	// (-1 when the server does not say); at most every 100 ms and at the
	// end.
	Bytes func(file string, done, total int64)

	root string // the models directory, its links resolved: every file written must be under it
}

// Pull downloads the weights of the named model and records their path in
// its file (one commit, "model pull: NAME").
func Pull(ctx context.Context, st *state.Store, name string, o Options) (Result, error) {
	e, err := st.Get(state.KindModel, name)
	if err != nil {
		return Result{}, err
	}
	m, ok := e.Object.(*state.Model)
	if !ok || m == nil {
		return Result{}, fmt.Errorf("%w: model %q: its file is invalid: %v", state.ErrInvalid, name, e.Problem)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	dir := o.Dir
	if dir == "" {
		dir = name
	}
	if dir, o.root, err = Target(st.Dir, dir); err != nil {
		return Result{}, err
	}
	var res Result
	switch m.Source {
	case "http":
		res, err = pullHTTP(ctx, m, dir, o)
	case "huggingface":
		res, err = pullHF(ctx, m, dir, o)
	case "local":
		res, err = checkLocal(m)
	case "ollama":
		return Result{}, invalid("/source", "model %q: ollama models are pulled by the ollama engine when its service starts (they live in its own volume); model pull handles http, huggingface and local", name)
	case "modelscope":
		return Result{}, invalid("/source", "model %q: pulling from ModelScope is not implemented; download the weights and set path (source: local)", name)
	default:
		return Result{}, invalid("/source", "model %q has no source to pull from (http, huggingface or local)", name)
	}
	if err != nil {
		return Result{}, err
	}
	if m.Source == "local" || (m.Path == res.Path && m.Size != "") {
		return res, nil
	}
	_, err = st.UpdateMessage(state.KindModel, name, "", "model pull: "+name, func(o state.Object) (state.Object, error) {
		mm := o.(*state.Model)
		mm.Path = res.Path
		if mm.Size == "" {
			mm.Size = sizeString(res.Bytes)
		}
		return mm, nil
	})
	return res, err
}

// Target resolves where a pull into to (the `to` parameter) writes: a
// directory strictly under the state directory's .local/models/ (a
// relative to is taken from there). An absolute path elsewhere, ".."
// climbing out and a symbolic link leading out are refused, naming to.
// The models directory itself may be a link (the owner's choice, under the
// trusted .local/); it is created if missing. It returns the directory and
// the models directory with its links resolved.
func Target(stateDir, to string) (dir, root string, err error) {
	models := state.ModelsDir(stateDir)
	if models, err = filepath.Abs(models); err != nil {
		return "", "", err
	}
	refuse := func(why string) error {
		return invalid("/to", "%q: %s; weights go into a directory under %s (a relative to is taken from there)", to, why, models)
	}
	dir = to
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(models, dir)
	}
	dir = filepath.Clean(dir)
	if dir == models {
		return "", "", refuse("that is the models directory itself, shared by every model")
	}
	if !strings.HasPrefix(dir, models+string(filepath.Separator)) {
		return "", "", refuse("outside the state directory's .local/models/")
	}
	if err := os.MkdirAll(models, 0o755); err != nil {
		return "", "", err
	}
	if root, err = filepath.EvalSymlinks(models); err != nil {
		return "", "", err
	}
	if err := within(root, dir); err != nil {
		return "", "", refuse(err.Error())
	}
	return dir, root, nil
}

// within checks that path, once the links of the part of it that exists
// are resolved, is under root (itself resolved). What does not exist yet
// is created by the pull as plain directories and files.
func within(root, path string) error {
	existing := path
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return fmt.Errorf("no part of it exists")
		}
		existing = parent
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return err
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return fmt.Errorf("%s leads to %s, outside the models directory (a symbolic link)", existing, real)
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return &state.InvalidError{Problems: []state.Problem{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

func pullHTTP(ctx context.Context, m *state.Model, dir string, o Options) (Result, error) {
	u, err := url.Parse(m.URL)
	if m.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Result{}, invalid("/url", "model %q: source http needs an http(s) url, have %q", m.Name, m.URL)
	}
	base := path.Base(u.Path)
	if base == "." || base == "/" || !filepath.IsLocal(base) {
		base = m.Name
	}
	dst := filepath.Join(dir, base)
	n, fetched, err := fetch(ctx, o, m.URL, dst, m.Checksum, nil)
	if err != nil {
		return Result{}, err
	}
	return Result{Path: dst, Files: []string{base}, Downloaded: fetched, Bytes: n}, nil
}

// hfSibling is one file of a Hub repository revision.
type hfSibling struct {
	Name string `json:"rfilename"`
}

func pullHF(ctx context.Context, m *state.Model, dir string, o Options) (Result, error) {
	if m.Repo == "" || strings.Count(m.Repo, "/") > 1 || strings.Contains(m.Repo, "..") {
		return Result{}, invalid("/repo", "model %q: source huggingface needs repo as OWNER/NAME, have %q", m.Name, m.Repo)
	}
	endpoint := strings.TrimRight(o.Getenv("HF_ENDPOINT"), "/")
	if endpoint == "" {
		endpoint = "https://huggingface.co"
	}
	rev := m.Tag
	if rev == "" {
		rev = "main"
	}
	auth := http.Header{}
	if tok := o.Getenv("HF_TOKEN"); tok != "" {
		auth.Set("Authorization", "Bearer "+tok)
	}
	info := endpoint + "/api/models/" + m.Repo + "/revision/" + url.PathEscape(rev)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, info, nil)
	if err != nil {
		return Result{}, err
	}
	req.Header = auth.Clone()
	resp, err := o.Client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("model %q: ask %s for %s@%s: %w", m.Name, endpoint, m.Repo, rev, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("model %q: %s answers %s for %s@%s%s", m.Name, endpoint, resp.Status, m.Repo, rev, hint(resp.StatusCode))
	}
	var doc struct {
		Siblings []hfSibling `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&doc); err != nil {
		return Result{}, fmt.Errorf("model %q: the file list of %s@%s: %w", m.Name, m.Repo, rev, err)
	}
	if len(doc.Siblings) == 0 {
		return Result{}, fmt.Errorf("model %q: %s@%s has no files", m.Name, m.Repo, rev)
	}
	res := Result{Path: dir}
	for _, s := range servable(doc.Siblings) {
		if !filepath.IsLocal(filepath.FromSlash(s.Name)) {
			return Result{}, fmt.Errorf("model %q: %s@%s lists a file outside the repository: %q", m.Name, m.Repo, rev, s.Name)
		}
		src := endpoint + "/" + m.Repo + "/resolve/" + url.PathEscape(rev) + "/" + escapePath(s.Name)
		n, fetched, err := fetch(ctx, o, src, filepath.Join(dir, filepath.FromSlash(s.Name)), "", auth)
		if err != nil {
			return Result{}, fmt.Errorf("model %q: %w", m.Name, err)
		}
		res.Files = append(res.Files, s.Name)
		res.Downloaded += fetched
		res.Bytes += n
	}
	return res, nil
}

// servable leaves out the files of a Hub repository that no engine loads
// from a directory of safetensors weights: the original checkpoints
// (original/, as Meta publishes them beside the converted weights, as big
// again), copies for other runtimes (ONNX, OpenVINO, Core ML, TensorFlow,
// Flax, Rust) and, when the repository has safetensors, the PyTorch
// pickles of the same weights. What vLLM itself downloads for a repo.
func servable(files []hfSibling) []hfSibling {
	safetensors := false
	for _, f := range files {
		safetensors = safetensors || strings.HasSuffix(f.Name, ".safetensors")
	}
	var out []hfSibling
	for _, f := range files {
		dir, _, nested := strings.Cut(f.Name, "/")
		ext := path.Ext(f.Name)
		switch {
		case nested && (dir == "original" || dir == "onnx" || dir == "openvino" || dir == "coreml"):
		case ext == ".onnx" || ext == ".h5" || ext == ".msgpack" || ext == ".ot" || ext == ".tflite":
		case safetensors && (ext == ".bin" || ext == ".pth" || ext == ".pt"):
		default:
			out = append(out, f)
		}
	}
	return out
}

func hint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (a gated or private repository: set HF_TOKEN)"
	case http.StatusNotFound:
		return " (check repo and tag)"
	}
	return ""
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// fetch downloads src to dst unless dst exists, verifying checksum
// ("sha256:HEX") when given. It returns dst's size and 1 when it
// downloaded, 0 when the file was there. The bytes go to dst.part, renamed
// when complete; an interrupted download leaves its part, and the next
// fetch asks only for the rest (an HTTP Range request; a server that
// answers with the whole file starts it over).
func fetch(ctx context.Context, o Options, src, dst, checksum string, header http.Header) (int64, int, error) {
	if fi, err := os.Lstat(dst); err == nil && fi.Mode().IsRegular() { // a link is replaced, not taken for the file
		if err := verify(dst, checksum); err != nil {
			return 0, 0, err
		}
		o.Progress(fmt.Sprintf("%s: present", filepath.Base(dst)))
		return fi.Size(), 0, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, 0, err
	}
	if o.root != "" {
		// A link met on the way (a directory of the repository's files
		// that is a link) does not take the download out.
		if err := within(o.root, filepath.Dir(dst)); err != nil {
			return 0, 0, fmt.Errorf("download %s: %w", src, err)
		}
	}
	part := dst + ".part"
	f, have, h, err := openPart(part)
	if err != nil {
		return 0, 0, err
	}
	resp, err := get(ctx, o, src, header, have)
	if err == nil && have > 0 && !resumes(resp, have) && (resp.StatusCode < 300 || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable) {
		// The server sends the whole file (no Range support), or not
		// the rest of this part: start over.
		f.Close()
		resp.Body.Close()
		os.Remove(part)
		if f, have, h, err = openPart(part); err != nil {
			return 0, 0, err
		}
		resp, err = get(ctx, o, src, header, 0)
	}
	if err != nil {
		f.Close()
		return 0, 0, fmt.Errorf("download %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && !resumes(resp, have) {
		f.Close()
		return 0, 0, fmt.Errorf("download %s: %s%s", src, resp.Status, hint(resp.StatusCode))
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	start := time.Now()
	pw := &progressWriter{file: filepath.Base(dst), done: have, total: total, report: o.Bytes}
	n, err := io.Copy(io.MultiWriter(f, h, pw), resp.Body)
	pw.flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if err != nil {
		// The part stays: the next pull asks for the rest (Range).
		return 0, 0, fmt.Errorf("download %s: %w (%d bytes kept in %s; pull again to resume)", src, err, have+n, filepath.Base(part))
	}
	if checksum != "" {
		if err := matches(checksum, h.Sum(nil)); err != nil {
			os.Remove(part)
			return 0, 0, fmt.Errorf("download %s: %w", src, err)
		}
	}
	n += have
	if err := os.Rename(part, dst); err != nil {
		os.Remove(part)
		return 0, 0, err
	}
	o.Progress(fmt.Sprintf("%s: %d bytes in %s", filepath.Base(dst), n, time.Since(start).Round(time.Millisecond)))
	return n, 1, nil
}

func checkLocal(m *state.Model) (Result, error) {
	if m.Path == "" {
		return Result{}, invalid("/path", "model %q: source local needs path (a file or directory on this machine)", m.Name)
	}
	fi, err := os.Stat(m.Path)
	if err != nil {
		return Result{}, invalid("/path", "model %q: %v", m.Name, err)
	}
	res := Result{Path: m.Path, Files: []string{filepath.Base(m.Path)}}
	if fi.Mode().IsRegular() {
		res.Bytes = fi.Size()
		if err := verify(m.Path, m.Checksum); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

func verify(file, checksum string) error {
	if checksum == "" {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if err := matches(checksum, h.Sum(nil)); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func matches(checksum string, sum []byte) error {
	want, ok := strings.CutPrefix(strings.ToLower(checksum), "sha256:")
	if !ok {
		return invalid("/checksum", "%q: only sha256:HEX checksums are supported", checksum)
	}
	if got := hex.EncodeToString(sum); got != want {
		return errors.New("checksum mismatch: the file's sha256 is " + got + ", the model says " + want)
	}
	return nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGi", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMi", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKi", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d", n)
}

// openPart opens a download's part file for appending: the bytes it holds
// and their hash so far. A link in its place is removed, never followed.
func openPart(part string) (*os.File, int64, hash.Hash, error) {
	h := sha256.New()
	if fi, err := os.Lstat(part); err == nil && !fi.Mode().IsRegular() {
		os.Remove(part)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, 0, nil, err
	}
	have, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return f, have, h, nil
}

// resumes reports whether resp carries the rest of a part of have bytes.
func resumes(resp *http.Response, have int64) bool {
	return resp.StatusCode == http.StatusPartialContent && strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have))
}

// get asks for src from byte from on (all of it when from is 0).
func get(ctx context.Context, o Options, src string, header http.Header, from int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	if header != nil {
		req.Header = header.Clone()
	}
	if from > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", from))
	}
	return o.Client.Do(req)
}

// progressWriter counts the bytes of a download for Options.Bytes.
type progressWriter struct {
	file        string
	done, total int64
	last        time.Time
	report      func(string, int64, int64)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.done += int64(len(p))
	if w.report != nil && time.Since(w.last) >= 100*time.Millisecond {
		w.last = time.Now()
		w.report(w.file, w.done, w.total)
	}
	return len(p), nil
}

func (w *progressWriter) flush() {
	if w.report != nil {
		w.report(w.file, w.done, w.total)
	}
}
