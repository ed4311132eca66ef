package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"edgecdn/internal/httpx"
)

// serverFlags are the flags every server shares.
type serverFlags struct {
	listen          *string
	adminListen     *string
	adminToken      *string
	drainDelay      *time.Duration
	shutdownTimeout *time.Duration
	pyroscope       *string
	cors            *string
}

// DefaultDrainDelay is how long a gossip member keeps serving after SIGTERM, announced as
// draining and answering 503 on /readyz, before it leaves the cluster and closes its listener:
// time for balancers, steering, the DNS server and the other edges to drop it (a gossip round,
// well under a second) and for players on it to move at their next segment.
const DefaultDrainDelay = 5 * time.Second

func addServerFlags(fs *flag.FlagSet, defaultListen string, drainDelay time.Duration) *serverFlags {
	return &serverFlags{
		listen:      fs.String("listen", defaultListen, "HTTP listen address `HOST:PORT` (port 0 picks a free port and logs it)"),
		adminListen: fs.String("admin-listen", "", "serve the admin endpoints (/metrics, /debug/pprof/ and the server's own) only on this `HOST:PORT`; --listen then serves content, /healthz and /readyz (default: all on --listen)"),
		adminToken:  fs.String("admin-token", "", "bearer `TOKEN` that /debug/pprof/ and the admin endpoints need (/metrics never does; empty: open, and the edge's /admin/ off)"),
		drainDelay: fs.Duration("drain-delay", drainDelay, "on SIGTERM, how long to keep serving, announced as draining and not ready, "+
			"before leaving the cluster and closing the listener (keep it under Kubernetes' terminationGracePeriodSeconds less --shutdown-timeout)"),
		shutdownTimeout: fs.Duration("shutdown-timeout", 30*time.Second, "after the drain, how long in-flight responses get to finish"),
		pyroscope:       fs.String("pyroscope-url", "", "send continuous profiles to this Pyroscope server `URL`"),
		cors:            fs.String("cors-origins", "*", "`ORIGINS` whose web pages may read responses, comma-separated (https://player.example.com,http://127.0.0.1:3000); * allows every origin"),
	}
}

// corsOrigins is --cors-origins parsed: nil allows every origin.
func (sf *serverFlags) corsOrigins() ([]string, error) {
	o, err := httpx.ParseCORSOrigins(*sf.cors)
	if err != nil {
		return nil, fmt.Errorf("--cors-origins: %w", err)
	}
	return o, nil
}

// server is what each component's Server provides.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// drainer is a server that can start a graceful stop: not ready, announced as draining to the
// cluster, still serving.
type drainer interface{ Drain() }

// adminServer is a server that can serve its admin endpoints on a listener of their own.
type adminServer interface{ ServeAdmin(net.Listener) error }

// serve runs srv on the --listen address until ctx ends (SIGTERM or SIGINT), then stops it
// gracefully. The order is the point:
//
//   - start: the listener is bound and served first, so /healthz answers at once; then join
//     (the cluster is joined in the background: /readyz says 503 until it has joined), so
//     no member announces itself in the gossip before its HTTP server answers;
//   - stop: Drain (announced as draining, /readyz 503, still serving) for --drain-delay, then
//     Shutdown (leave the cluster, then close the listener, in-flight responses finishing
//     within --shutdown-timeout).
//
// join, if set, runs once the server is serving, with its listener (for the address to
// announce).
func serve(ctx context.Context, sf *serverFlags, component, name string, srv server, log *slog.Logger, join ...func(net.Listener) error) error {
	stopProf, err := httpx.StartProfiling(*sf.pyroscope, component, name, log)
	if err != nil {
		return err
	}
	defer stopProf()
	ln, err := httpx.Listen(*sf.listen)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	if *sf.adminListen != "" {
		as, ok := srv.(adminServer)
		if !ok {
			ln.Close()
			return fmt.Errorf("--admin-listen: %s has no admin listener", component)
		}
		aln, err := httpx.Listen(*sf.adminListen)
		if err != nil {
			ln.Close()
			return err
		}
		go func() {
			if err := as.ServeAdmin(aln); err != nil {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
	}
	go func() { errc <- srv.Serve(ln) }()
	for _, j := range join {
		if err := j(ln); err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			srv.Shutdown(sctx)
			cancel()
			return err
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if d, ok := srv.(drainer); ok && *sf.drainDelay > 0 {
		d.Drain()
		log.Info("draining", "for", *sf.drainDelay)
		t := time.NewTimer(*sf.drainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return err
		}
	}
	log.Info("shutting down", "timeout", *sf.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), *sf.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// componentLogs keeps the demo's components quiet unless debug logging was asked for.
func componentLogs(log *slog.Logger) *slog.Logger {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(slog.DiscardHandler)
}

// begin is how every subcommand starts: no positional arguments, then its logger, tagged with
// the component when one is given.
func begin(args []string, logger func(*os.File) (*slog.Logger, error), component string) (*slog.Logger, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", args)
	}
	log, err := logger(os.Stderr)
	if err != nil {
		return nil, err
	}
	if component != "" {
		log = log.With("component", component)
	}
	return log, nil
}
