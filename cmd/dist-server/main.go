// Command dist-server publishes packages over BitTorrent. See
// internal/servercli.
package main

import (
	_ "github.com/distpac/distpac/internal/fileio" // before the BitTorrent library: see its doc

	"context"
	"os"

	"github.com/distpac/distpac/internal/servercli"
)

func main() {
	os.Exit(servercli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
