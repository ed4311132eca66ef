// Package commands holds the edgecdn binary's subcommands, so that tests and other tools (the
// Kubernetes manifest checks) can parse command lines exactly as the binary does.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"edgecdn/internal/cli"
)

// Version is set at build time with -ldflags "-X edgecdn/cmd/edgecdn/commands.Version=v1.2.3"; without
// it the version is the VCS revision Go recorded, or "dev".
var Version = ""

// VersionString returns the binary's version.
func VersionString() string {
	if Version != "" {
		return Version
	}
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += "-" + rev + dirty
		}
	}
	return v
}

// Commands are the subcommands by name.
func Commands() map[string]*cli.Command {
	m := map[string]*cli.Command{}
	for _, c := range []*cli.Command{packageCmd(), originCmd(), edgeCmd(), lbCmd(), dnsCmd(), steeringCmd(), signCmd(), demoCmd()} {
		m[c.Name] = c
	}
	return m
}

// Main runs the binary with args (without the program name) and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmds := Commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return 2
	}
	switch args[0] {
	case "--version", "-version", "version":
		fmt.Fprintf(stdout, "edgecdn %s\n", VersionString())
		return 0
	case "help", "--help", "-help", "-h":
		if len(args) > 1 {
			if c, ok := cmds[args[1]]; ok {
				cli.Run(context.Background(), c, []string{"--help"}, stdout, stderr)
				return 0
			}
		}
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "edgecdn: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cli.Run(ctx, c, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cli.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "edgecdn %s: %v\n", c.Name, err)
	return 1
}

func usage(w io.Writer, cmds map[string]*cli.Command) {
	fmt.Fprintf(w, "edgecdn %s: an edge CDN for HLS video\n\nUsage: edgecdn <command> [flags]\n\n", VersionString())
	var list []cli.Command
	for _, c := range cmds {
		list = append(list, *c)
	}
	slices.SortFunc(list, func(a, b cli.Command) int { return strings.Compare(a.Name, b.Name) })
	cli.PrintCommands(w, "Commands:", list)
	fmt.Fprintf(w, "\nEvery flag can also be set as an environment variable: --cache-size is %s.\n", cli.EnvName("cache-size"))
	fmt.Fprintf(w, "Run 'edgecdn <command> --help' for its flags and an example; 'edgecdn --version' for the version.\n")
}
