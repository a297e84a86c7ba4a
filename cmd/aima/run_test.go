package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// curlLine finds a curl command printed by aima run: its URL, its
// headers and its body.
var curlLine = regexp.MustCompile(`curl (\S+) ((?:-H (?:'[^']*'|"[^"]*") )+)-d '([^']*)'`)

// doCurl sends the request of a printed curl command (the shell's
// $(cat FILE) in a header read as the shell would) and returns the
// answer's content.
func doCurl(t *testing.T, m []string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, m[1], strings.NewReader(m[3]))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range regexp.MustCompile(`-H (?:'([^']*)'|"([^"]*)")`).FindAllStringSubmatch(m[2], -1) {
		k, v, _ := strings.Cut(h[1]+h[2], ": ")
		if file, ok := strings.CutPrefix(v, "Bearer $(cat "); ok {
			b, err := os.ReadFile(strings.TrimSuffix(file, ")"))
			if err != nil {
				t.Fatal(err)
			}
			v = "Bearer " + strings.TrimSpace(string(b))
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ans) != nil || len(ans.Choices) == 0 {
		t.Fatalf("%s answered %s: %s", m[1], resp.Status, b)
	}
	return ans.Choices[0].Message.Content
}

// TestRunTinyllamaStub is issue 16's "done when": from a fresh state
// directory, `aima run tinyllama --engine stub` ends with the service
// running, and the curl it prints, aima inference chat and (with an agent)
// the gateway's curl all answer. --dry-run first changes nothing; a second
// run reuses the service.
func TestRunTinyllamaStub(t *testing.T) {
	e := newAimaEnv(t, 2)
	head := e.mustGit("rev-parse", "HEAD")

	dry := e.mustAima("run", "tinyllama", "--engine", "stub", "--dry-run")
	for _, want := range []string{"dry run, nothing changed", "1. write model/tinyllama and service/tinyllama in one commit", "--- models/tinyllama.yaml", "source: ollama", "--- services/tinyllama.yaml", "engine: stub"} {
		if !strings.Contains(dry, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, dry)
		}
	}
	if now := e.mustGit("rev-parse", "HEAD"); now != head {
		t.Errorf("--dry-run committed: %s", e.mustGit("log", "--oneline", head+"..HEAD"))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "services", "tinyllama.yaml")); err == nil {
		t.Error("--dry-run wrote services/tinyllama.yaml")
	}
	if c := e.containers(); len(c) != 0 {
		t.Errorf("--dry-run made containers %v", describe(c))
	}

	out := e.mustAima("run", "tinyllama", "--engine", "stub")
	if !strings.Contains(out, "service/tinyllama: running") {
		t.Fatalf("aima run did not end running:\n%s", out)
	}
	if got := e.mustGit("show", "--name-only", "--format=%s", "HEAD"); got != "run: tinyllama\n\nmodels/tinyllama.yaml\nservices/tinyllama.yaml\n" {
		t.Errorf("the run's commit:\n%s\nwant model and service in one commit", got)
	}
	m := curlLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no curl to paste in:\n%s", out)
	}
	if got := doCurl(t, m); !strings.Contains(got, "stub answer from tinyllama") {
		t.Errorf("the printed curl got %q", got)
	}
	if got := e.mustAima("inference", "chat", "-m", "tinyllama", "-M", "hi"); !strings.Contains(got, "stub answer from tinyllama: hi") {
		t.Errorf("inference chat: %q", got)
	}

	// Again, with an agent: the service is reused, nothing is committed,
	// and the gateway's curl (with the token) answers too.
	head = e.mustGit("rev-parse", "HEAD")
	e.startAgent()
	again := e.mustAima("run", "tinyllama", "--engine", "stub")
	if !strings.Contains(again, "service/tinyllama already serves tinyllama on stub: reused") || !strings.Contains(again, "service/tinyllama: running") {
		t.Errorf("second run:\n%s", again)
	}
	if now := e.mustGit("rev-parse", "HEAD"); now != head {
		t.Errorf("the second run committed: %s", e.mustGit("log", "--oneline", head+"..HEAD"))
	}
	all := curlLine.FindAllStringSubmatch(again, -1)
	if len(all) != 2 || !strings.Contains(all[1][1], e.addr) || !strings.Contains(all[1][2], "Authorization: Bearer $(cat ") {
		t.Fatalf("want the direct and the gateway curl:\n%s", again)
	}
	if got := doCurl(t, all[1]); !strings.Contains(got, "stub answer from tinyllama") {
		t.Errorf("the gateway's curl got %q", got)
	}
	if c := e.containers(); len(c) != 1 {
		t.Errorf("containers %v, want the one service's", describe(c))
	}
}

// TestRunRefusesTooBigModel: on a machine whose nvidia-smi reports an RTX
// 3060 with 10 of 12 GB free, Qwen2.5 14B on vLLM (34 GB) is refused with
// the numbers, and nothing is written; without --engine the machine's
// profile picks the 4-bit ollama recipe, which fits.
func TestRunRefusesTooBigModel(t *testing.T) {
	e := newAimaEnv(t, 1)
	bin := t.TempDir()
	smi := "#!/bin/sh\necho '0, NVIDIA GeForce RTX 3060, GPU-fake, 12288, 2048, 10240, 3, 40, 550.54'\n"
	if err := os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte(smi), 0o755); err != nil {
		t.Fatal(err)
	}
	gpu := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	head := e.mustGit("rev-parse", "HEAD")

	out, errOut, code := e.aimaEnvs(gpu, "run", "qwen2.5-14b", "--engine", "vllm")
	want := "model qwen2.5-14b needs 34 GB of GPU memory; GPU 0 (NVIDIA GeForce RTX 3060) has 10 GB free of 12 GB (--force runs it anyway)"
	if code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s\nwant the refusal %q", code, out, errOut, want)
	}
	if now := e.mustGit("rev-parse", "HEAD"); now != head {
		t.Errorf("a refused run committed: %s", e.mustGit("log", "--oneline", head+"..HEAD"))
	}
	out, errOut, code = e.aimaEnvs(gpu, "run", "qwen2.5-14b", "--dry-run", "-o", "json")
	var plan struct {
		EngineType string  `json:"engine_type"`
		Profile    string  `json:"profile"`
		NeedGB     float64 `json:"need_gb"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || plan.EngineType != "ollama" || plan.Profile != "profile-nvidia-small" || plan.NeedGB != 11.1 {
		t.Errorf("dry run on the small GPU: exit %d %+v\n%s%s", code, plan, out, errOut)
	}
	if c := e.containers(); len(c) != 0 {
		t.Errorf("containers %v", describe(c))
	}
}
