package state_test

// Attacks by someone who can push to a followed remote, at the state
// layer: each test shows the attack refused (nothing applied, HEAD and
// files unchanged, the error naming the commit and the reason) and the
// legitimate path still working.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

// trust puts e's public key in st's .local/trusted-keys/ as file.
func trust(t *testing.T, st *state.Store, file string, data []byte) {
	t.Helper()
	dir := filepath.Join(st.Dir, state.TrustedKeysDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pusher is a plain clone of a remote, where an outsider commits with
// whatever files, signatures and history they like.
type pusher struct {
	t   *testing.T
	dir string
}

func newPusher(t *testing.T, url string) *pusher {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	gitEnv(t, filepath.Dir(dir), "clone", "-q", url, dir)
	return &pusher{t: t, dir: dir}
}

func (p *pusher) write(rel, content string) {
	p.t.Helper()
	f := filepath.Join(p.dir, rel)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// commit records every change, signed by key when it is not nil (with
// go-git's CommitOptions.SignKey), and returns the commit.
func (p *pusher) commit(msg string, key *openpgp.Entity) string {
	p.t.Helper()
	gitEnv(p.t, p.dir, "add", "-A")
	return testenv.Commit(p.t, p.dir, msg, key)
}

func (p *pusher) push(force bool) {
	p.t.Helper()
	args := []string{"push", "-q", "origin", "HEAD:main"}
	if force {
		args = append(args, "--force")
	}
	gitEnv(p.t, p.dir, args...)
}

// refused asserts that err is a RefusedError for rev saying each of want.
func refused(t *testing.T, err error, rev string, want ...string) {
	t.Helper()
	var re *state.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("pull: %v, want a RefusedError", err)
	}
	t.Logf("refused: %v", err)
	if re.Revision != rev {
		t.Errorf("refused revision %s, want %s", re.Revision, rev)
	}
	for _, w := range append(want, rev[:12]) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error does not say %q: %v", w, err)
		}
	}
}

func pullWith(st *state.Store, opts state.PullOptions) (state.PullResult, error) {
	return st.Pull(context.Background(), "", "", opts)
}

// unchanged asserts that st is still at HEAD good and has no file rel.
func unchanged(t *testing.T, st *state.Store, good, rel string) {
	t.Helper()
	if h := head(t, st); h != good {
		t.Errorf("HEAD moved to %s, want %s", h, good)
	}
	if rel != "" {
		if _, err := os.Stat(filepath.Join(st.Dir, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of a refused revision was written (%v)", rel, err)
		}
	}
	checkRepo(t, st.Dir)
}

func TestRemoteVerifySignatures(t *testing.T) {
	_, url := published(t)
	b := cloneStore(t, url)
	good := head(t, b)
	verify := state.PullOptions{VerifySignatures: true}
	owner, ownerPub := testenv.NewKey(t, "owner")
	stranger, _ := testenv.NewKey(t, "stranger")

	// No trusted key: an error naming the directory, before any fetch.
	_, err := pullWith(b, verify)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(b.Dir, state.TrustedKeysDir)) {
		t.Fatalf("--verify-signatures without trusted keys: %v, want an error naming the directory", err)
	}
	trust(t, b, "owner.asc", ownerPub)

	// An unsigned commit: refused, nothing applied.
	w := newPusher(t, url)
	w.write("models/unsigned.yaml", "source: ollama\nrepo: x\n")
	unsigned := w.commit("unsigned", nil)
	w.push(false)
	_, err = pullWith(b, verify)
	refused(t, err, unsigned, "not signed", state.TrustedKeysDir)
	unchanged(t, b, good, "models/unsigned.yaml")

	// Signed by a key that is not trusted: refused, naming the key.
	w.write("models/stranger.yaml", "source: ollama\nrepo: x\n")
	bySranger := w.commit("by a stranger", stranger)
	w.push(false)
	_, err = pullWith(b, verify)
	refused(t, err, bySranger, "signed by key", "not in "+state.TrustedKeysDir)
	unchanged(t, b, good, "models/stranger.yaml")

	// Signed by the trusted key: applied (the tip is what is verified, as
	// Flux and Argo CD do).
	w.write("models/owner.yaml", "source: ollama\nrepo: x\n")
	byOwner := w.commit("by the owner", owner)
	w.push(false)
	res, err := pullWith(b, verify)
	if err != nil || res.Outcome != state.PullFastForward || res.Head != byOwner {
		t.Fatalf("pull of a commit signed by a trusted key: %+v, %v", res, err)
	}
	fileOf(t, b, "models/owner.yaml")
	checkRepo(t, b.Dir)

	// A key in binary form (gpg --export) is read too.
	var bin bytes.Buffer
	if err := stranger.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	trust(t, b, "stranger.gpg", bin.Bytes())
	if _, n, err := b.TrustedKeyRing(); err != nil || n != 2 {
		t.Errorf("trusted keys: %d, %v; want 2", n, err)
	}
	// A file that is no key: an error naming it, never "trust nothing".
	trust(t, b, "junk.pub", []byte("not a key\n"))
	if _, _, err := b.TrustedKeyRing(); err == nil || !strings.Contains(err.Error(), "junk.pub") {
		t.Errorf("a junk key file: %v, want an error naming it", err)
	}
}

func TestRemoteRewrittenHistoryIsRefused(t *testing.T) {
	a, url := published(t)
	b := cloneStore(t, url)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m2", Source: "ollama", Repo: "phi"})
	push(t, a)
	pull(t, b)
	accepted := head(t, b)

	// Someone rewrites the branch: drops m2 and adds their own commit.
	w := newPusher(t, url)
	gitEnv(t, w.dir, "reset", "-q", "--hard", "HEAD~1")
	w.write("models/evil.yaml", "source: ollama\nrepo: evil\n")
	rewritten := w.commit("rewritten", nil)
	w.push(true)

	_, err := pullWith(b, state.PullOptions{})
	refused(t, err, rewritten, "rewritten", accepted, rewritten, "--allow-rewrite")
	unchanged(t, b, accepted, "models/evil.yaml")
	// Asking again (or after a restart: a new Store on the directory) does
	// not make the rewritten tip look known.
	_, err = pullWith(b, state.PullOptions{})
	refused(t, err, rewritten, "rewritten")
	again, err := state.Open(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pullWith(again, state.PullOptions{})
	refused(t, err, rewritten, "rewritten")
	unchanged(t, b, accepted, "models/evil.yaml")

	// Allowed by the owner: applied, and no local commit is lost (a merge).
	res, err := pullWith(b, state.PullOptions{AllowRewrite: true})
	if err != nil || res.Outcome != state.PullMerge {
		t.Fatalf("pull --allow-rewrite: %+v, %v", res, err)
	}
	fileOf(t, b, "models/evil.yaml")
	gitEnv(t, b.Dir, "merge-base", "--is-ancestor", accepted, "HEAD")
	checkRepo(t, b.Dir)
	// The rewritten branch is now the known one: its fast-forwards need no flag.
	w.write("models/next.yaml", "source: ollama\nrepo: next\n")
	w.commit("next", nil)
	w.push(false)
	if res := pull(t, b); res.Outcome != state.PullMerge && res.Outcome != state.PullFastForward {
		t.Errorf("pull after the accepted rewrite: %+v", res)
	}
	fileOf(t, b, "models/next.yaml")

	// A branch moved back to an older commit is a rewrite too.
	w2 := newPusher(t, url)
	gitEnv(t, w2.dir, "reset", "-q", "--hard", "HEAD~1")
	back := strings.TrimSpace(gitEnv(t, w2.dir, "rev-parse", "HEAD"))
	w2.push(true)
	_, err = pullWith(b, state.PullOptions{})
	refused(t, err, back, "rewritten")
}

// setting sets key to value in the YAML text of aima.yaml.
func setting(yml, key, value string) string {
	lines := strings.Split(strings.TrimRight(yml, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, key+":") {
			lines[i] = key + ": " + value
			return strings.Join(lines, "\n") + "\n"
		}
	}
	return strings.Join(append(lines, key+": "+value), "\n") + "\n"
}

func TestRemotePulledSettingsAreRefused(t *testing.T) {
	_, url := published(t)
	b := cloneStore(t, url)
	good := head(t, b)
	orig := fileOf(t, b, "aima.yaml")

	w := newPusher(t, url)
	w.write("aima.yaml", setting(setting(setting(orig, "api", "0.0.0.0:9999"), "port_range", "1-65535"), "remote", "origin/evil"))
	evil := w.commit("listen everywhere", nil)
	w.push(false)
	_, err := pullWith(b, state.PullOptions{})
	refused(t, err, evil, "aima.yaml", "/api", "/port_range", "/remote", "0.0.0.0:9999", state.PolicyPath, "pulled_settings")
	unchanged(t, b, good, "")
	if fileOf(t, b, "aima.yaml") != orig {
		t.Errorf("aima.yaml changed by a refused pull:\n%s", fileOf(t, b, "aima.yaml"))
	}

	// Other settings of aima.yaml are shared state: a commit that changes
	// only those (here resync) is applied.
	w.write("aima.yaml", setting(orig, "resync", "7s"))
	fine := w.commit("resync", nil)
	w.push(false)
	if res := pull(t, b); res.Head != fine {
		t.Fatalf("pull of a shared setting: %+v", res)
	}
	if !strings.Contains(fileOf(t, b, "aima.yaml"), "resync: 7s") {
		t.Error("resync not applied")
	}

	// The owner allows pulled settings in the local policy: applied.
	if err := os.WriteFile(filepath.Join(b.Dir, state.PolicyPath), []byte("pulled_settings: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.write("aima.yaml", setting(setting(orig, "resync", "7s"), "api", "127.0.0.1:9999"))
	allowed := w.commit("api", nil)
	w.push(false)
	if res := pull(t, b); res.Head != allowed {
		t.Fatalf("pull with pulled_settings: true: %+v", res)
	}
	if !strings.Contains(fileOf(t, b, "aima.yaml"), "api: 127.0.0.1:9999") {
		t.Error("api not applied with pulled_settings: true")
	}
}

// TestRemotePulledPolicyViolationsAreRefused: the local policy applies to
// pulled files as to any other (checkRevision decodes them through
// Store.Decode): host mounts of / and the Docker socket, and ${env:} of
// the agent's secrets, are refused by a default policy.
func TestRemotePulledPolicyViolationsAreRefused(t *testing.T) {
	_, url := published(t)
	b := cloneStore(t, url)
	good := head(t, b)
	w := newPusher(t, url)

	w.write("apps/rootkit.yaml", "image: busybox\nvolumes:\n  - /:/host\n  - /var/run/docker.sock:/var/run/docker.sock\n")
	evil := w.commit("mount the host", nil)
	w.push(false)
	_, err := pullWith(b, state.PullOptions{})
	refused(t, err, evil, "apps/rootkit.yaml", "/volumes/0", "/volumes/1", `"/"`, "/var/run/docker.sock", "host_paths")
	unchanged(t, b, good, "apps/rootkit.yaml")

	gitEnv(t, w.dir, "rm", "-q", "apps/rootkit.yaml")
	w.write("services/leak.yaml", "model: m1\nengine: stub\nenv:\n  X: ${env:AIMA_GIT_TOKEN}\n")
	leak := w.commit("read the agent's token", nil)
	w.push(false)
	_, err = pullWith(b, state.PullOptions{})
	refused(t, err, leak, "services/leak.yaml", "/env/X", "${env:AIMA_GIT_TOKEN}")
	unchanged(t, b, good, "services/leak.yaml")

	// The same service without the secret is applied.
	w.write("services/leak.yaml", "model: m1\nengine: stub\nenv:\n  X: plain\n")
	fine := w.commit("no secret", nil)
	w.push(false)
	if res := pull(t, b); res.Head != fine {
		t.Fatalf("pull of a valid service: %+v", res)
	}
	fileOf(t, b, "services/leak.yaml")
}

// TestRemoteAnyName: push and pull work with a remote not called origin.
func TestRemoteAnyName(t *testing.T) {
	ctx := context.Background()
	a := testenv.NewStore(t)
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "x"})
	url := "file://" + bareRemote(t)
	if err := a.AddRemote("backup", url); err != nil {
		t.Fatal(err)
	}
	res, err := a.Push(ctx, "backup", "")
	if err != nil || res.Remote != "backup" || res.Revision != head(t, a) {
		t.Fatalf("push backup: %+v, %v", res, err)
	}
	if got := strings.TrimSpace(gitEnv(t, filepath.Dir(a.Dir), "--git-dir", strings.TrimPrefix(url, "file://"), "rev-parse", "main")); got != head(t, a) {
		t.Errorf("the remote is at %s, want %s", got, head(t, a))
	}

	b := cloneStore(t, url) // its origin is the same repository
	if err := b.AddRemote("mirror", url); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, a, state.KindModel, &state.Model{Name: "m1b", Source: "ollama", Repo: "x"})
	if _, err := a.Push(ctx, "backup", "main"); err != nil {
		t.Fatalf("push backup main: %v", err)
	}
	pr, err := b.Pull(ctx, "mirror", "main", state.PullOptions{})
	if err != nil || pr.Source != "mirror/main" || pr.Outcome != state.PullFastForward || pr.Head != head(t, a) {
		t.Fatalf("pull mirror main: %+v, %v", pr, err)
	}
	fileOf(t, b, "models/m1b.yaml")
	fileOf(t, b, "models/m1.yaml")
	mustCreate(t, b, state.KindModel, &state.Model{Name: "m2", Source: "ollama", Repo: "y"})
	if _, err := b.Push(ctx, "mirror", "main"); err != nil {
		t.Fatalf("push mirror main: %v", err)
	}
	if pr, err := a.Pull(ctx, "backup", "", state.PullOptions{}); err != nil || pr.Outcome != state.PullFastForward {
		t.Fatalf("pull backup: %+v, %v", pr, err)
	}
	fileOf(t, a, "models/m2.yaml")
	checkRepo(t, a.Dir)
	checkRepo(t, b.Dir)
}

// TestPullNeverWritesThroughALink: a kind directory that is a symbolic link
// (out of the state directory) is not written through by a pull either;
// the pull fails and nothing of it is applied.
func TestPullNeverWritesThroughALink(t *testing.T) {
	_, url := published(t)
	b := cloneStore(t, url)
	good := head(t, b)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(b.Dir, "engines")); err != nil {
		t.Fatal(err)
	}
	w := newPusher(t, url)
	w.write("engines/pushed.yaml", "name: pushed\nimage: x/y:1\n")
	w.commit("an engine", nil)
	w.push(false)
	if _, err := pullWith(b, state.PullOptions{}); err == nil {
		t.Fatal("a pull wrote through a linked kind directory")
	}
	if _, err := os.Stat(filepath.Join(outside, "pushed.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pulled file landed outside the state directory (%v)", err)
	}
	if h := head(t, b); h != good {
		t.Errorf("HEAD moved to %s, want %s", h, good)
	}
}
