package stub

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// ImageRepo is the repository of stub images. The tag is derived from the
// aima binary inside (see ImageRef).
const ImageRepo = "aima-stub"

// Labels set on stub images.
const (
	LabelStub   = "aima.stub"        // "true"
	LabelBinary = "aima.stub.sha256" // SHA-256 of the aima binary inside
)

// dockerfile builds the stub image from the aima binary alone: a static Go
// binary needs no base image, and scratch needs no registry.
const dockerfile = `FROM scratch
COPY aima /aima
LABEL ` + LabelStub + `="true"
EXPOSE 8000
ENTRYPOINT ["/aima", "stub", "serve"]
`

// buildMu serialises EnsureImage within a process, so parallel callers
// (services converging at once) build the image only once.
var buildMu sync.Mutex

// ImageRef is the reference of the stub image for the aima binary at path
// binary: ImageRepo tagged with the first 12 hex digits of the binary's
// SHA-256. Equal binaries give equal references, so the image is reused
// across runs and concurrent builders agree on its name.
func ImageRef(binary string) (string, error) {
	sum, err := fileSHA256(binary)
	if err != nil {
		return "", fmt.Errorf("stub image: %w", err)
	}
	return ImageRepo + ":" + sum[:12], nil
}

// IsImage reports whether ref names a stub image (any tag or digest of
// ImageRepo, with or without the docker.io/library/ prefix).
func IsImage(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	return reference.FamiliarName(named) == ImageRepo
}

// EnsureImage returns the reference of the stub image for the aima binary
// at path binary, building it through the Docker API if the daemon does not
// have it yet. The binary must be statically linked (CGO_ENABLED=0): the
// image has nothing else in it.
func EnsureImage(ctx context.Context, cli client.APIClient, binary string) (string, error) {
	if err := checkStatic(binary); err != nil {
		return "", fmt.Errorf("stub image: %w", err)
	}
	sum, err := fileSHA256(binary)
	if err != nil {
		return "", fmt.Errorf("stub image: %w", err)
	}
	ref := ImageRepo + ":" + sum[:12]

	buildMu.Lock()
	defer buildMu.Unlock()
	_, err = cli.ImageInspect(ctx, ref)
	if err == nil {
		return ref, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("stub image: inspect %s: %w", ref, err)
	}
	if err := buildImage(ctx, cli, binary, ref, sum); err != nil {
		return "", fmt.Errorf("stub image: build %s from %s: %w", ref, binary, err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("stub image: inspect %s after build: %w", ref, err)
	}
	return ref, nil
}

// buildImage builds ref with the classic builder from an in-memory build
// context (Dockerfile + binary), streamed so the binary is never held in
// memory whole.
func buildImage(ctx context.Context, cli client.APIClient, binary, ref, sum string) error {
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, f, fi.Size())) }()
	defer pr.Close() // unblocks the writer if the build fails early

	resp, err := cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelBinary: sum},
		// BuildKit needs a session; the classic builder is enough for two
		// instructions and works on every daemon.
		Version: build.BuilderV1,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return checkBuildOutput(resp.Body)
}

// writeContext writes the build context: the Dockerfile and the binary as
// "aima", with fixed timestamps so equal binaries give equal contexts (and
// hit the builder's cache).
func writeContext(w io.Writer, bin io.Reader, size int64) error {
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "aima", Mode: 0o755, Size: size, ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, bin, size); err != nil {
		return fmt.Errorf("copy binary into build context: %w", err)
	}
	return tw.Close()
}

// checkBuildOutput drains the build's JSON message stream and returns the
// error it reports, if any. The daemon answers 200 and reports build
// failures only inside the stream.
func checkBuildOutput(r io.Reader) error {
	dec := json.NewDecoder(r)
	var tail []string // the last lines of output, for context in errors
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if msg.Error != nil {
			out := strings.TrimSpace(strings.Join(tail, ""))
			if out == "" {
				return errors.New(msg.Error.Message)
			}
			return fmt.Errorf("%s (output: %s)", msg.Error.Message, out)
		}
		if msg.Stream != "" {
			tail = append(tail, msg.Stream)
			if len(tail) > 5 {
				tail = tail[1:]
			}
		}
	}
}

// checkStatic refuses binaries that cannot run in a scratch image: not
// ELF, or dynamically linked (an interpreter or needed shared libraries).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it has an ELF interpreter); the stub image needs a static aima binary: build it with CGO_ENABLED=0", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read dynamic section of %s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s is dynamically linked (needs %s); the stub image needs a static aima binary: build it with CGO_ENABLED=0", path, strings.Join(libs, ", "))
	}
	return nil
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
