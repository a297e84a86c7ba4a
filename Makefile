# aima — make targets. Go and a running Docker daemon are all that is needed.
GO      ?= go
BIN     ?= bin/aima
# The version `aima version` prints: the nearest tag, commits since it and
# the commit (git describe), "-dirty" with uncommitted changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/aima-dev/aima/cmd/aima/cli.Version=$(VERSION)
export CGO_ENABLED = 0

.PHONY: build test test-short test-race test-web test-k8s generate bench run vet clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/aima

# The whole test suite, including the Docker end-to-end tests.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

# The developer loop: every test that needs no Docker (under a minute or
# two); the Docker tests skip under -short (and with AIMA_SKIP_DOCKER=1).
test-short:
	AIMA_SKIP_DOCKER=1 $(GO) test -short -count=1 -timeout 10m ./...

# The web page's tests: headless Chromium (Debian's chromium) against the
# real agent; AIMA_WEB_SHOTS=DIR keeps the screenshots of every page.
test-web:
	$(GO) test -count=1 -run 'TestWebPage|TestAttackWeb|TestStatusWatch' ./cmd/aima/

# The whole suite under the race detector, which needs cgo: CGO_ENABLED=1
# for this target only (the aima binary the tests build stays static).
# TEST_RACE_FLAGS=-short runs it without the Docker tests.
test-race: export CGO_ENABLED = 1
test-race:
	$(GO) test -race -count=1 -timeout 45m $(TEST_RACE_FLAGS) ./...

# The kubernetes runtime against a real API server: etcd (Debian's
# etcd-server package) and kube-apiserver, built from the k8s.io/kubernetes
# module by hack/kube/build.sh once (minutes, at low priority) and cached in
# ~/.cache/aima-k8s. Elsewhere these tests skip when the binaries are absent;
# here they must run.
test-k8s:
	@command -v etcd >/dev/null || { echo "test-k8s needs etcd: apt-get install etcd-server" >&2; exit 1; }
	AIMA_K8S_BIN=$$(hack/kube/build.sh) AIMA_K8S_REQUIRE=1 $(GO) test -count=1 -timeout 15m ./agent/kube/

# Regenerate schemas/ from the Go types in state/.
generate:
	$(GO) run ./state/internal/schemagen

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 200x ./state/...
	./bench/run.sh

# Run the agent on the demo state directory with the stub engine.
run: build
	$(BIN) start --dir .aima

clean:
	rm -rf bin
