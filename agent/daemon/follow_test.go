package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aima-dev/aima/internal/testenv"
	"github.com/aima-dev/aima/state"
)

func followGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir,
		"GIT_AUTHOR_NAME=Ext", "GIT_AUTHOR_EMAIL=ext@example.com", "GIT_COMMITTER_NAME=Ext", "GIT_COMMITTER_EMAIL=ext@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// publisherAndFollower makes a bare remote, a state directory that pushed
// to it and a follower cloned from it.
func publisherAndFollower(t *testing.T) (pub, follower *state.Store, url, bare string) {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	bare = filepath.Join(tmp, "remote.git")
	followGit(t, tmp, "init", "--bare", "-q", "-b", "main", bare)
	url = "file://" + bare
	pub, _ = state.Open(filepath.Join(tmp, "pub"))
	if _, err := pub.Init(); err != nil {
		t.Fatal(err)
	}
	if err := pub.AddRemote("origin", url); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Push(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	follower, _ = state.Open(filepath.Join(tmp, "follower"))
	if _, err := follower.InitFrom(ctx, url, ""); err != nil {
		t.Fatal(err)
	}
	return pub, follower, url, bare
}

// TestFollowerAppliesValidRevisionsOnly drives one follower through an
// applied revision, a refused one and an unreachable remote.
func TestFollowerAppliesValidRevisionsOnly(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	pub, st, url, bare := publisherAndFollower(t)
	kicks := 0
	f, err := newFollower(st, "origin/main", "", time.Hour, state.PullOptions{}, slog.New(slog.DiscardHandler), func() { kicks++ })
	if err != nil {
		t.Fatal(err)
	}

	// A valid change upstream is applied and the sync loop asked to run.
	if _, err := pub.Create(state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Push(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	want := followGit(t, pub.Dir, "rev-parse", "HEAD")
	got := f.Sync(ctx)
	if got.Applied != want || got.LastError != "" || kicks != 1 {
		t.Fatalf("after a valid push: %+v (kicks %d), want %s applied", got, kicks, want)
	}
	if _, err := os.Stat(filepath.Join(st.Dir, "models/m1.yaml")); err != nil {
		t.Fatal(err)
	}
	if disk, ok := ReadFollowState(st.Dir); !ok || disk.Applied != want {
		t.Errorf(".local/follow.json: %+v", disk)
	}

	// An invalid file upstream: refused, reported, the state stays.
	work := filepath.Join(tmp, "work")
	followGit(t, tmp, "clone", "-q", url, work)
	os.WriteFile(filepath.Join(work, "models", "m1.yaml"), []byte("port: [\n"), 0o644)
	followGit(t, work, "commit", "-q", "-am", "break m1")
	followGit(t, work, "push", "-q", "origin", "HEAD:main")
	got = f.Sync(ctx)
	if got.Applied != want || got.LastOutcome != "refused" || !strings.Contains(got.LastError, "models/m1.yaml") {
		t.Errorf("after an invalid push: %+v", got)
	}
	if h := followGit(t, st.Dir, "rev-parse", "HEAD"); h != want {
		t.Errorf("HEAD moved to %s", h)
	}
	if n := metricValue(f.attempts.WithLabelValues("refused")); n != 1 {
		t.Errorf("refused attempts = %v", n)
	}
	if metricValue(f.failing) != 1 {
		t.Error("failing gauge not set")
	}

	// The remote goes away: reported, nothing breaks.
	os.Rename(bare, bare+".gone")
	got = f.Sync(ctx)
	if got.LastOutcome != "unavailable" || got.Applied != want {
		t.Errorf("with the remote gone: %+v", got)
	}
	if s := f.statusExtra()["follow"].(FollowState); s.LastError == "" {
		t.Error("status does not report the error")
	}
}

func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestFollowerVerifySignatures: a follower with VerifySignatures refuses to
// start without trusted keys (naming the directory) and reports an unsigned
// revision as refused, naming the commit and why, without applying it; a
// default follower refuses a force-pushed branch the same way.
func TestFollowerVerifySignatures(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	pub, st, url, _ := publisherAndFollower(t)
	good := followGit(t, st.Dir, "rev-parse", "HEAD")
	quiet := slog.New(slog.DiscardHandler)

	verify := state.PullOptions{VerifySignatures: true}
	if _, err := newFollower(st, "origin/main", "", time.Hour, verify, quiet, nil); err == nil || !strings.Contains(err.Error(), filepath.Join(st.Dir, ".local", "trusted-keys")) {
		t.Fatalf("a verifying follower without trusted keys: %v, want an error naming the directory", err)
	}
	if _, err := newFollower(st, "", "", time.Hour, verify, quiet, nil); err == nil {
		t.Error("--verify-signatures without anything to follow was accepted")
	}
	keys := filepath.Join(st.Dir, ".local", "trusted-keys")
	os.MkdirAll(keys, 0o700)
	// Any valid public key: the point is that the commit is not signed.
	os.WriteFile(filepath.Join(keys, "owner.asc"), pubKey(t), 0o644)
	f, err := newFollower(st, "origin/main", "", time.Hour, verify, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Create(state.KindModel, &state.Model{Name: "m1", Source: "ollama", Repo: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Push(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	unsigned := followGit(t, pub.Dir, "rev-parse", "HEAD")
	got := f.Sync(ctx)
	if got.LastOutcome != "refused" || !strings.Contains(got.LastError, unsigned) || !strings.Contains(got.LastError, "not signed") || !got.VerifySignatures {
		t.Errorf("after an unsigned push: %+v", got)
	}
	if h := followGit(t, st.Dir, "rev-parse", "HEAD"); h != good {
		t.Errorf("HEAD moved to %s", h)
	}

	// A default follower applies it; then the publisher rewrites history.
	d, err := newFollower(st, "origin/main", "", time.Hour, state.PullOptions{}, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Sync(ctx); got.Applied != unsigned {
		t.Fatalf("default follower: %+v", got)
	}
	work := filepath.Join(tmp, "work")
	followGit(t, tmp, "clone", "-q", url, work)
	followGit(t, work, "reset", "-q", "--hard", "HEAD~1")
	followGit(t, work, "commit", "-q", "--allow-empty", "-m", "rewritten")
	followGit(t, work, "push", "-q", "--force", "origin", "HEAD:main")
	rewritten := followGit(t, work, "rev-parse", "HEAD")
	got = d.Sync(ctx)
	if got.LastOutcome != "refused" || !strings.Contains(got.LastError, rewritten) || !strings.Contains(got.LastError, unsigned) || !strings.Contains(got.LastError, "rewritten") {
		t.Errorf("after a force-push: %+v", got)
	}
	if disk, ok := ReadFollowState(st.Dir); !ok || disk.LastError != got.LastError {
		t.Errorf(".local/follow.json: %+v", disk)
	}
	a, err := newFollower(st, "origin/main", "", time.Hour, state.PullOptions{AllowRewrite: true}, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Sync(ctx); got.LastError != "" || got.Applied != rewritten {
		t.Errorf("with AllowRewrite: %+v", got)
	}
}

func pubKey(t *testing.T) []byte {
	_, pub := testenv.NewKey(t, "owner")
	return pub
}
