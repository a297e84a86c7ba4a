# aima — make targets. Go and a running Docker daemon are all that is needed.
GO      ?= go
BIN     ?= bin/aima
# The version `aima version` prints: the nearest tag, commits since it and
# the commit (git describe), "-dirty" with uncommitted changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/aima-dev/aima/cmd/aima/cli.Version=$(VERSION)
export CGO_ENABLED = 0

.PHONY: build test generate bench run vet clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/aima

# The whole test suite, including the Docker end-to-end tests.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

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
