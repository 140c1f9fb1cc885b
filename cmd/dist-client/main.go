// Command dist-client installs packages whose payloads travel over
// BitTorrent. See internal/clientcli.
package main

import (
	_ "github.com/distpac/distpac/internal/fileio"         // before the BitTorrent library: see its doc
	_ "github.com/distpac/distpac/internal/procs/onestart" // before the libraries' inits: see its doc

	"context"
	"os"

	"github.com/distpac/distpac/internal/clientcli"
)

func main() {
	os.Exit(clientcli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
