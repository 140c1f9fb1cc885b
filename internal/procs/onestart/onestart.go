// Package onestart puts a dist-client process on one processor before the
// package inits run (procs.Start). Import it for effect from the main
// package, first, beside internal/fileio: Go initialises it before the
// heavy inits of the libraries (SQLite, the BitTorrent library, Prometheus),
// since it imports only procs and procs only a few standard packages
// (checked by e2e's TestOneStartInitOrder).
package onestart

import "github.com/distpac/distpac/internal/procs"

func init() { procs.Start() }
