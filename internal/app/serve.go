package app

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
	shutdownTimeout *time.Duration
	pyroscope       *string
	cors            *string
}

func addServerFlags(fs *flag.FlagSet, defaultListen string) *serverFlags {
	return &serverFlags{
		listen:          fs.String("listen", defaultListen, "HTTP listen address `HOST:PORT` (port 0 picks a free port and logs it)"),
		shutdownTimeout: fs.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM, how long in-flight responses get to finish"),
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

// serve runs srv on the --listen address until ctx ends (SIGTERM or SIGINT), then shuts it down
// gracefully within --shutdown-timeout. ready, if set, runs once the listener is bound (to join
// the cluster with the bound address) and may return a function to run at shutdown.
func serve(ctx context.Context, sf *serverFlags, component, name string, srv server, log *slog.Logger, ready ...func(net.Listener) error) error {
	stopProf, err := httpx.StartProfiling(*sf.pyroscope, component, name, log)
	if err != nil {
		return err
	}
	defer stopProf()
	ln, err := httpx.Listen(*sf.listen)
	if err != nil {
		return err
	}
	for _, r := range ready {
		if err := r(ln); err != nil {
			ln.Close()
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
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
