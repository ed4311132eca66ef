package commands

import (
	"context"
	"errors"
	"flag"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"edgecdn/internal/cli"
	"edgecdn/internal/cluster"
	"edgecdn/internal/httpx"
	"edgecdn/loadbalancer/dns"
)

func dnsCmd() *cli.Command {
	return &cli.Command{
		Name:    "dns",
		Summary: "run the authoritative DNS server: the healthy zones' balancers, round robin (tier 1)",
		Usage:   "dns --domain NAME --join HOST:PORT[,...] [--listen :53] [--zone-map CIDR=zone,...] [flags]",
		Example: "edgecdn dns --domain video.edgecdn.local --listen 127.0.0.1:5353 --http-listen 127.0.0.1:8053 \\\n" +
			"    --gossip-listen 127.0.0.1:7970 --join 127.0.0.1:7946\n" +
			"dig @127.0.0.1 -p 5353 video.edgecdn.local A +short",
		Flags: func(fs *flag.FlagSet) func(context.Context, []string) error {
			gf := addGossipFlags(fs)
			cfg := dns.DefaultConfig()
			cfg.RegisterFlags(fs)
			httpListen := fs.String("http-listen", ":8053", "HTTP address `HOST:PORT` of /healthz, /readyz, /metrics and /debug/pprof/ (the admin port)")
			adminToken := fs.String("admin-token", "", "bearer `TOKEN` that /debug/pprof/ needs (/metrics never does; empty: open)")
			drainDelay := fs.Duration("drain-delay", DefaultDrainDelay, "on SIGTERM, how long to keep answering, announced as draining and not ready, before leaving the cluster")
			shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM, how long in-flight queries get")
			pyro := fs.String("pyroscope-url", "", "send continuous profiles to this Pyroscope server `URL`")
			logger := cli.LogFlags(fs)
			return func(ctx context.Context, args []string) error {
				log, err := begin(args, logger, "dns")
				if err != nil {
					return err
				}
				name := gf.memberName()
				stopProf, err := httpx.StartProfiling(*pyro, "dns", name, log)
				if err != nil {
					return err
				}
				defer stopProf()
				// The order, as serve's: the HTTP port answers /healthz first, then the member
				// joins in the background (/readyz 503 until it has), then DNS answers.
				hln, err := httpx.Listen(*httpListen)
				if err != nil {
					return err
				}
				var stopping, answering atomic.Bool
				var clp atomic.Pointer[cluster.Cluster]
				ready := func() bool { c := clp.Load(); return answering.Load() && !stopping.Load() && c != nil && c.Joined() }
				set := metrics.NewSet()
				admin := httpx.NewServer((&httpx.Endpoints{Metrics: set, Ready: ready, Token: *adminToken}).AdminHandler(nil),
					httpx.Options{Name: "edgecdn-dns", Logger: log})
				errc := make(chan error, 2)
				go func() { errc <- admin.Serve(hln) }()
				stopAdmin := func() { admin.Shutdown() }
				cl, err := gf.start(cluster.Meta{Role: cluster.RoleDNS}, hln, nil, log)
				if err != nil {
					stopAdmin()
					return err
				}
				clp.Store(cl)
				cfg.Source, cfg.Metrics, cfg.Logger = dns.ClusterSource(cl), set, log
				srv, err := dns.New(cfg)
				if err != nil {
					cl.Shutdown()
					stopAdmin()
					return err
				}
				udp, tcp, err := dns.Listen(cfg.Listen)
				if err != nil {
					cl.Shutdown()
					stopAdmin()
					return err
				}
				log.Info("dns listening", "addr", udp.LocalAddr().String(), "domain", cfg.Domain, "http", hln.Addr().String())
				go func() { errc <- srv.Serve(udp, tcp) }()
				answering.Store(true)
				select {
				case err := <-errc:
					cl.Shutdown()
					stopAdmin()
					return err
				case <-ctx.Done():
				}
				// Drain: not ready (the Service drops it) and announced as draining, still answering.
				if *drainDelay > 0 {
					cluster.Drain(&stopping, &clp, log, nil)
					log.Info("draining", "for", *drainDelay)
					time.Sleep(*drainDelay) // the drain itself: keep answering while others drop this server
				}
				sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
				defer cancel()
				return errors.Join(cluster.Stop(&stopping, &clp), srv.Shutdown(sctx), admin.ShutdownWithContext(sctx))
			}
		},
	}
}
