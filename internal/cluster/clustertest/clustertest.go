// Package clustertest starts gossip members on loopback for the tests of the components that
// join a cluster.
package clustertest

import (
	"log/slog"

	"edgecdn/internal/cluster"
	"edgecdn/internal/harness"
)

// Start starts a member as cfg says, gossiping on a free loopback port and logging nowhere
// unless cfg says otherwise, and shuts it down at the test's end.
func Start(t harness.T, cfg cluster.Config) *cluster.Cluster {
	t.Helper()
	if cfg.GossipListen == "" {
		cfg.GossipListen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := cluster.Start(cfg)
	if err != nil {
		t.Fatalf("starting member %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c
}
