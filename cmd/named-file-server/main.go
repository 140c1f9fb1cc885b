// Command named-file-server serves the files named on its command line at
// /<basename> and nothing else. See internal/namedfile.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/distpac/distpac/internal/namedfile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := namedfile.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
