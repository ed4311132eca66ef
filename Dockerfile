# The edgecdn image: two static binaries, /edgecdn (the ENTRYPOINT: origin, edge, lb, dns,
# steering, package) and /player-sim, the CA certificates, and nothing else. It runs as a
# non-root user (65532) and never writes to its root filesystem, so it runs with
# readOnlyRootFilesystem. Build: `make image` (docker, or podman where docker is absent).
# Only Docker Hub's official golang image is pulled (GO_IMAGE: point it at a mirror if need be);
# the result is FROM scratch.

ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath \
        -ldflags "-s -w -X edgecdn/cmd/edgecdn/commands.Version=${VERSION}" -o /out/edgecdn ./cmd/edgecdn && \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" \
        -o /out/player-sim ./player-sim

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/edgecdn /out/player-sim /
USER 65532:65532
# origin 8080, edge 9090, lb 8000, steering 8500, dns 53 (UDP, TCP) and 8053, gossip 7946.
EXPOSE 8080 9090 8000 8500 8053 9100 53/udp 53/tcp 7946/tcp 7946/udp
ENTRYPOINT ["/edgecdn"]
