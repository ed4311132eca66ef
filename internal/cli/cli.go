// Package cli runs edgecdn's subcommands: flags that fall back to EDGECDN_<FLAG> environment
// variables, help with an example, and logging set up the same way for every server.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// EnvPrefix is prepended to a flag's upper-cased name, dashes turned to underscores, to find its
// environment variable: --cache-size is EDGECDN_CACHE_SIZE.
const EnvPrefix = "EDGECDN_"

// Command is one subcommand of the edgecdn binary.
type Command struct {
	Name    string // as typed: "origin"
	Summary string // one line for the command list
	Usage   string // synopsis after the binary name: "origin --content DIR [flags]"
	Example string // at least one complete command line, shown by --help
	// Flags registers the command's flags on fs and returns the function that runs the command
	// once they are parsed. Positional arguments are passed to run.
	Flags func(fs *flag.FlagSet) (run func(ctx context.Context, args []string) error)
}

// ErrHelp is returned when the user asked for help; the caller exits 0.
var ErrHelp = flag.ErrHelp

// EnvName returns the environment variable that sets the flag called name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then sets every flag not given on the command line from its
// environment variable, if set. The command line wins over the environment, which wins over
// the default. lookup is os.LookupEnv outside tests.
func Parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v, ok := lookup(EnvName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// Run parses args for cmd and runs it. Help goes to stdout; usage errors to stderr.
func Run(ctx context.Context, cmd *Command, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgecdn "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := cmd.Flags(fs)
	if err := Parse(fs, args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			PrintHelp(stdout, cmd, fs)
			return ErrHelp
		}
		return fmt.Errorf("%s: %w (see edgecdn %s --help)", cmd.Name, err, cmd.Name)
	}
	return run(ctx, fs.Args())
}

// LogFlags registers --log-level and --log-format on fs and returns a function that builds the
// logger once flags are parsed. The format "auto" means text on a terminal, JSON otherwise.
func LogFlags(fs *flag.FlagSet) func(w *os.File) (*slog.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "auto", "log format: auto, text or json")
	return func(w *os.File) (*slog.Logger, error) {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
		}
		opts := &slog.HandlerOptions{Level: lv}
		f := *format
		if f == "auto" {
			f = "json"
			if isTerminal(w) {
				f = "text"
			}
		}
		switch f {
		case "json":
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		case "text":
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return nil, fmt.Errorf("--log-format %q: want auto, text or json", *format)
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
