package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Help is what a command's --help says besides its flags. Every command of edgecdn, player-sim
// and bench prints its help with Print, so that all read alike.
type Help struct {
	Usage   string // the synopsis, the program first: "edgecdn origin --content DIR [flags]"
	About   string // what the command does
	Example string // complete command lines, one a line
}

// Print writes the usage, what the command does, every flag of fs as `--flag VALUE
// [ENVIRONMENT_VARIABLE]` with its description and its default (unless the zero value), and
// the examples. VALUE is the back-quoted word of the flag's usage, else its type.
func (h Help) Print(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags (each also settable as an environment variable):\n", h.Usage, h.About)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "   [%s]\n      %s", EnvName(f.Name), usage)
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintf(w, "\nExample:\n%s\n", indent(h.Example))
}

// PrintHelp writes an edgecdn subcommand's help.
func PrintHelp(w io.Writer, cmd *Command, fs *flag.FlagSet) {
	Help{Usage: "edgecdn " + cmd.Usage, About: cmd.Summary, Example: cmd.Example}.Print(w, fs)
}

// PrintCommands writes a heading ("Commands:") and a line a command, its name and its summary
// aligned, in the order given.
func PrintCommands(w io.Writer, heading string, cmds []Command) {
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.Name))
	}
	fmt.Fprintln(w, heading)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
