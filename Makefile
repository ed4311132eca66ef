# edgecdn — see README.md.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X edgecdn/internal/app.Version=$(VERSION)
FUZZTIME ?= 5s

# Packages whose code runs goroutines concurrently: always tested with the race detector.
RACE_PKGS := ./origin/... ./internal/... ./edge/... ./loadbalancer/... ./steering/...

.PHONY: build demo test test-race vet lint fuzz-short fuzz bench clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/edgecdn ./cmd/edgecdn

demo:
	$(GO) run ./cmd/edgecdn demo

test: vet
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race $(RACE_PKGS)
	$(MAKE) fuzz-short

vet:
	$(GO) vet ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every fuzz target for FUZZTIME each (CI: a few seconds; `make fuzz FUZZTIME=5m` for a real run).
fuzz-short:
	@./scripts/fuzz-all $(FUZZTIME)

fuzz:
	@./scripts/fuzz-all $(FUZZTIME)

bench:
	$(GO) test -run NONE -bench . -benchmem ./...
	$(GO) run ./bench all

clean:
	rm -rf bin
