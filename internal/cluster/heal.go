package cluster

import (
	"context"
	"net"
	"time"
)

// joinUnknown joins the --join addresses that are no known live member's: two clusters that
// formed apart (a start where joins timed out, each side taking itself for the first member)
// merge at the next rejoin interval, without waiting for a member to be seen dead.
func (c *Cluster) joinUnknown() {
	known := map[string]bool{c.GossipAddr(): true}
	for _, m := range c.Members() {
		if m.State.Live() {
			known[m.Gossip] = true
		}
	}
	var unknown []string
	for _, a := range c.joinAddrs() {
		if !known[a] {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) == 0 {
		return
	}
	n, err := c.ml.Join(unknown)
	c.log.Info("joined addresses outside this cluster", "addrs", unknown, "contacted", n, "err", err)
}

// joinAddrs resolves the join addresses (a name may give many, a headless Service's pods) to
// HOST:PORT, the gossip port 7946 where none is given.
func (c *Cluster) joinAddrs() []string {
	var addrs []string
	for _, j := range c.cfg.Join {
		host, port, err := net.SplitHostPort(j)
		if err != nil {
			host, port = j, "7946"
		}
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ips, err := c.cfg.Resolve(ctx, host)
		cancel()
		if err != nil {
			c.log.Debug("resolving join address", "addr", j, "err", err)
			continue
		}
		for _, ip := range ips {
			addrs = append(addrs, net.JoinHostPort(ip, port))
		}
	}
	return addrs
}
