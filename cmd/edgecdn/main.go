// Command edgecdn runs every part of the edgecdn video CDN: `edgecdn help` lists them.
package main

import (
	"os"

	"edgecdn/cmd/edgecdn/commands"
)

func main() { os.Exit(commands.Main(os.Args[1:], os.Stdout, os.Stderr)) }
