// Command player-sim simulates video players: `player-sim help` lists its modes.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"edgecdn/internal/cli"
	"edgecdn/player-sim/emucmd"
	"edgecdn/player-sim/learn"
	"edgecdn/player-sim/simcmd"
)

// command is one mode of player-sim, dispatched on the first argument.
type command struct {
	cli.Command // Name and Summary
	run         func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{cli.Command{Name: "emulate", Summary: emucmd.Summary}, emucmd.Run},
	{cli.Command{Name: "sim", Summary: simcmd.Summary}, simcmd.Run},
	{cli.Command{Name: "learn", Summary: learn.Summary}, learn.Run},
}

func main() {
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	// A report printed last (--json -) must reach a container's log before the process ends.
	cli.DrainPipe(os.Stdout, 10*time.Second)
	os.Exit(code)
}

// run returns the exit code: 0, 1 on a failed command, 2 on bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	// Without a command, flags run the emulation mode: real players against a running CDN.
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		err := emucmd.Run(args, stdout, stderr)
		switch {
		case err == nil, errors.Is(err, emucmd.ErrHelp), errors.Is(err, learn.ErrHelp):
			return 0
		}
		fmt.Fprintln(stderr, "player-sim:", err)
		return 1
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w, code := stdout, 0
		if len(args) == 0 {
			w, code = stderr, 2
		}
		fmt.Fprintln(w, "Usage: player-sim COMMAND [flags]   (player-sim COMMAND --help for its flags)")
		fmt.Fprintln(w, "       player-sim --url URL [flags]   (flags alone: the emulate command)")
		fmt.Fprintln(w)
		var list []cli.Command
		for _, c := range commands {
			list = append(list, c.Command)
		}
		cli.PrintCommands(w, "Commands:", list)
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range []string{
			"go run ./player-sim sim --traces player-sim/testdata/traces/oboe --abr all",
			"go run ./player-sim emulate --url http://127.0.0.1:9090/vod/title-000/master.m3u8 --players 4 --link 8",
		} {
			fmt.Fprintln(w, "  "+e)
		}
		return code
	}
	for _, c := range commands {
		if c.Name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, simcmd.ErrHelp), errors.Is(err, emucmd.ErrHelp), errors.Is(err, learn.ErrHelp):
			return 0
		default:
			fmt.Fprintln(stderr, "player-sim:", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "player-sim: unknown command %q (see player-sim help)\n", args[0])
	return 2
}
