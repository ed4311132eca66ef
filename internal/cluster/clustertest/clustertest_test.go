package clustertest

import (
	"testing"
	"time"

	"edgecdn/internal/cluster"
	"edgecdn/internal/harness"
)

func TestStartJoins(t *testing.T) {
	a := Start(t, cluster.Config{Name: "a", Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: "z"}})
	b := Start(t, cluster.Config{Name: "b", Meta: cluster.Meta{Role: cluster.RoleEdge, Zone: "z"}, Join: []string{a.GossipAddr()}})
	harness.Eventually(t, 5*time.Second, "a and b see each other", func() bool {
		return len(a.Healthy(cluster.RoleEdge)) == 2 && len(b.Healthy(cluster.RoleEdge)) == 2
	})
}
