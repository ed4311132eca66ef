// Package k8s holds edgecdn's Kubernetes manifests (k8s/base, k8s/overlays/kind) and the kind
// cluster configuration; its tests render the kustomizations and check them against the real
// binary's flags. See k8s/README.md.
package k8s
