// Command edgecdn runs every part of the edgecdn video CDN: `edgecdn help` lists them.
package main

import (
	"os"

	"edgecdn/internal/app"
)

func main() { os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr)) }
