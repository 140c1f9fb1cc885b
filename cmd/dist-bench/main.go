//go:build linux

// Command dist-bench runs the swarm benchmark of DESIGN.md §7 against the
// real binaries: distpac vs plain HTTP (and aria2, Transmission and
// libtorrent when installed) in one run on loopback, or with -net on a network of hosts
// made of network namespaces. See internal/bench. Linux only, as the
// benchmark is (network namespaces, tc, TUN devices, TCP_INFO): on other
// systems the package is not built.
package main

import (
	_ "github.com/distpac/distpac/internal/fileio" // before the BitTorrent library: see its doc

	"os"

	"github.com/distpac/distpac/internal/bench"
)

func main() { os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr)) }
