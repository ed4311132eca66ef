# edgecdn — see README.md.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X edgecdn/cmd/edgecdn/commands.Version=$(VERSION)
FUZZTIME ?= 5s

# Packages whose code runs goroutines concurrently: always tested with the race detector.
RACE_PKGS := ./origin/... ./internal/... ./edge/... ./loadbalancer/... ./steering/... ./player-sim/abr/

.PHONY: build demo test test-race vet lint fuzz-short fuzz bench clean web test-browser

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

# The browser player's hls.js and dash.js, at the versions web/package-lock.json pins.
web:
	cd web && npm ci --no-audit --no-fund

# hls.js and dash.js in headless Chromium through the CDN (web/browser_test.go): needs
# `make web`, chromium and ffmpeg; prints time to first frame, stalls and failover times.
test-browser:
	$(GO) test -count=1 -v -run Browser -timeout 8m ./web/

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every fuzz target for FUZZTIME each (CI: a few seconds; `make fuzz FUZZTIME=5m` for a real run).
fuzz-short:
	@./scripts/fuzz-all $(FUZZTIME)

fuzz:
	@./scripts/fuzz-all $(FUZZTIME)

# Every benchmark scenario (Go microbenchmarks included): bench/results/<date>/report.md.
bench:
	$(GO) run ./bench all

clean:
	rm -rf bin

# --- Container image and a local Kubernetes cluster (k8s/README.md) -------------------------
IMAGE          ?= edgecdn:dev
KIND_CLUSTER   ?= edgecdn
# docker when its daemon answers, else podman.
CONTAINER_TOOL ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)
# podman: chroot isolation runs RUN steps without a container runtime (works inside CI containers).
IMAGE_BUILD_FLAGS ?= $(if $(filter podman,$(CONTAINER_TOOL)),--isolation=chroot)
KUBECTL        ?= kubectl
KIND           ?= kind
K8S_NS         := edgecdn
ZONES          := zone-a zone-b zone-c

.PHONY: image image-local image-smoke kind-up kind-load kind-test kind-down k8s-up k8s-down k8s-e2e

image:
	$(CONTAINER_TOOL) build $(IMAGE_BUILD_FLAGS) --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# The same image without the golang builder image (nothing pulled from any registry): static
# binaries built here, packaged FROM scratch with Dockerfile.local.
image-local:
	rm -rf bin/image && mkdir -p bin/image/bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/image/bin/edgecdn ./cmd/edgecdn
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/image/bin/player-sim ./player-sim
	cp /etc/ssl/certs/ca-certificates.crt bin/image/bin/
	cp Dockerfile.local bin/image/Dockerfile
	$(CONTAINER_TOOL) build $(IMAGE_BUILD_FLAGS) -t $(IMAGE) bin/image

# Build the image (with Dockerfile, or Dockerfile.local when the builder image cannot be pulled),
# take the binary out of it and check it (scripts/image-smoke).
image-smoke:
	CONTAINER_TOOL=$(CONTAINER_TOOL) IMAGE=$(IMAGE) ./scripts/image-smoke

# The kind overlay runs edgecdn:dev: keep IMAGE at its default for kind-up.
kind-up:
	@$(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' || \
		$(KIND) create cluster --name $(KIND_CLUSTER) --config k8s/kind-cluster.yaml
	$(MAKE) image
	$(MAKE) kind-load
	$(KUBECTL) apply -k k8s/overlays/kind
	$(KUBECTL) -n $(K8S_NS) rollout status deployment/origin --timeout=5m
	for z in $(ZONES); do $(KUBECTL) -n $(K8S_NS) rollout status statefulset/edge-$$z --timeout=5m || exit 1; done
	for z in $(ZONES); do $(KUBECTL) -n $(K8S_NS) rollout status deployment/lb-$$z --timeout=5m || exit 1; done
	$(KUBECTL) -n $(K8S_NS) rollout status deployment/dns --timeout=5m
	$(KUBECTL) -n $(K8S_NS) rollout status deployment/steering --timeout=5m
	$(KUBECTL) -n $(K8S_NS) get pods -o wide

# Load the image into the kind nodes. podman names a local image localhost/NAME: save it under
# the docker.io/library/NAME the pods ask for.
KIND_IMAGE_REF = $(if $(findstring /,$(IMAGE)),$(IMAGE),docker.io/library/$(IMAGE))
kind-load:
	@if [ "$(CONTAINER_TOOL)" = podman ]; then \
		set -e; tar=$$(mktemp --suffix=.tar); trap 'rm -f "$$tar"' EXIT; \
		echo "podman save $(KIND_IMAGE_REF) | kind load image-archive"; \
		podman tag $(IMAGE) $(KIND_IMAGE_REF); \
		rm -f "$$tar"; podman save --format docker-archive -o "$$tar" $(KIND_IMAGE_REF); \
		$(KIND) load image-archive "$$tar" --name $(KIND_CLUSTER); \
	else \
		echo "kind load docker-image $(IMAGE)"; \
		$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER); \
	fi

# Re-run the player simulator Job and print its report.
kind-test:
	$(KUBECTL) -n $(K8S_NS) delete job player-sim --ignore-not-found --wait=true
	$(KUBECTL) kustomize k8s/overlays/kind | $(KUBECTL) apply -l app.kubernetes.io/component=player-sim -f -
	@st=0; $(KUBECTL) -n $(K8S_NS) wait --for=condition=complete job/player-sim --timeout=10m || st=$$?; \
		$(KUBECTL) -n $(K8S_NS) logs job/player-sim; \
		if [ $$st -ne 0 ]; then echo "player-sim did not complete:"; $(KUBECTL) -n $(K8S_NS) describe job/player-sim | tail -20; fi; \
		exit $$st

kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# --- A real three-zone Kubernetes cluster on this machine (k8s/README.md) ------------------
# Built from the Go module proxy and Debian's packages (scripts/k8s-local); needs root. Its
# kubeconfig: bin/k8s-local/kubeconfig.
k8s-up:
	scripts/k8s-local/up

k8s-down:
	scripts/k8s-local/down

# The end-to-end test on that cluster; brings one up and down around it when none is running.
k8s-e2e:
	scripts/k8s-local/e2e
