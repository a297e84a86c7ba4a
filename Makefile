# aima — make targets. Go and a running Docker daemon are all that is needed.
GO      ?= go
BIN     ?= bin/aima
export CGO_ENABLED = 0

.PHONY: build test generate bench run vet clean

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/aima

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
