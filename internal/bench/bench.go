//go:build linux

// Package bench is the swarm benchmark behind `make bench-swarm`
// (DESIGN.md §7): one real dist-server and N real dist-client processes on
// 127.0.0.1 install the same package of size F at once, with the server's
// upload capped at U and each client's at u; in the same run the same N
// clients fetch the archive over plain HTTP from a server capped at U, and,
// when aria2c, transmission-daemon and libtorrent's Python module are
// installed, aria2, Transmission (in a network namespace of its own) and
// libtorrent (twice: the second time with the seeder super-seeding) do the
// same swarm as seeder and leechers. It prints one row per method and N
// with the time until the last client is done and its ratio to the
// Kumar–Ross lower bound
// T_min = max(F/U, F/d, N·F/(U + N·u)) (d, the client download capacity, is
// unlimited here, so F/d = 0).
//
// `make bench-net` (-net) runs the same methods on a network of hosts
// instead: each host a network namespace with its own address, its upload
// rate set by the kernel and a round-trip time (netbench.go, netlab.go).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Options set the scenario.
type Options struct {
	Ns       []int
	F        int64 // package payload bytes
	U, u     int64 // server and client upload caps, bytes/s
	HTTP     bool
	HTTPMaxN int // HTTP rows only for N up to this (its time is predictable: N·F/U)
	Aria2    bool
	// Transmission adds a row with transmission-daemon as seeder and
	// leechers, in a network namespace of its own (transmission.go).
	Transmission bool
	// Libtorrent adds the libtorrent rows (libtorrent.go): libtorrent as
	// seeder and leechers, and again with the seeder super-seeding, after
	// a check that its caps bind.
	Libtorrent bool
	BinDir     string
	Keep       bool
	Timeout    time.Duration // per row
	Stdout     io.Writer
	Stderr     io.Writer
	// Net runs bench-net: the Methods for every N and every round trip in
	// RTTs, on hosts that are network namespaces (netbench.go).
	Net     bool
	RTTs    []time.Duration
	MTU     int // of bench-net's links (defaultLabMTU when 0)
	Methods []string
	// JSON prints the rows as JSON instead of the table.
	JSON bool
}

// serverCap is distpac's publisher upload_rate_limit. On loopback it is
// the rate U. In bench-net the kernel holds the link to U, and the
// publisher is told 25% more: the setting is what declares an uplink
// scarce (PublisherSlots, the short request queue and the slot rate it
// advertises, internal/swarm/queue.go), while the link stays the limit
// that binds.
func (o Options) serverCap() int64 {
	if o.Net {
		return o.U * 5 / 4
	}
	return o.U
}

// peerCap is a program's own upload cap for a host whose rate is c: c on
// loopback, none in bench-net, where the link has the rate.
func (o Options) peerCap(c int64) int64 {
	if o.Net {
		return 0
	}
	return c
}

// Bound is the Kumar–Ross lower bound with unlimited client download.
func Bound(n int, f, U, u int64) time.Duration {
	t := float64(f) / float64(U)
	if shared := float64(n) * float64(f) / float64(U+int64(n)*u); shared > t {
		t = shared
	}
	return time.Duration(t * float64(time.Second))
}

// Run measures every row.
func Run(ctx context.Context, o Options) ([]Row, error) {
	if o.Net {
		if err := netUsable(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNetSkipped, err)
		}
	}
	for _, b := range []string{"dist-server", "dist-client"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s (run make build, or pass -bin)", b, o.BinDir)
		}
	}
	work, err := os.MkdirTemp("", "distpac-bench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintf(o.Stderr, "work directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	pkg := filepath.Join(work, "benchpkg")
	if err := writePackage(pkg, o.F); err != nil {
		return nil, err
	}
	if o.Net {
		return runNet(ctx, o, work, pkg)
	}
	if o.Transmission {
		if err := transmissionUsable(); err != nil {
			fmt.Fprintf(o.Stderr, "dist-bench: leaving out the Transmission row: %v\n", err)
			o.Transmission = false
		}
	}
	if o.Libtorrent {
		if err := libtorrentUsable(); err != nil {
			fmt.Fprintf(o.Stderr, "dist-bench: leaving out the libtorrent rows: %v\n", err)
			o.Libtorrent = false
		}
	}
	var rows []Row
	var errs []error
	add := func(r Row, err error) {
		if err != nil {
			r.Err = err.Error()
			errs = append(errs, fmt.Errorf("%s N=%d: %w", r.Method, r.N, err))
		}
		rows = append(rows, r)
	}
	// measure runs one row of method with n clients.
	measure := func(method string, n int, run func(dir string) (Row, error)) error {
		fmt.Fprintf(o.Stderr, "%s, N=%d ...\n", method, n)
		// Every row starts with nothing dirty in the page cache: a row of 32
		// clients writes about 1 GiB (downloads and installs), whose
		// writeback otherwise lands in the next row, on the next method.
		settle()
		r, err := run(filepath.Join(work, fmt.Sprintf("%s-%d", strings.ReplaceAll(method, " ", "-"), n)))
		r.Method, r.N, r.F, r.U, r.UC, r.Bound = method, n, o.F, o.U, o.u, Bound(n, o.F, o.U, o.u)
		add(r, err)
		return err
	}
	if o.Libtorrent && ctx.Err() == nil {
		// Once a run: rows whose caps do not bind would measure nothing.
		if err := measure(methodLibtorrentCheck, 1, func(dir string) (Row, error) { return ltCapCheck(ctx, o, pkg, dir) }); err != nil {
			fmt.Fprintf(o.Stderr, "dist-bench: leaving out the libtorrent rows: cap check: %v\n", err)
			o.Libtorrent = false
		}
	}
	for _, n := range o.Ns {
		if ctx.Err() != nil {
			break
		}
		distpacDir := filepath.Join(work, fmt.Sprintf("distpac-%d", n))
		measure("distpac", n, func(string) (Row, error) { return runDistpac(ctx, o, loopbackLayout(n, true), pkg, distpacDir) })
		if o.HTTP && n <= o.HTTPMaxN {
			measure("http", n, func(string) (Row, error) { return runHTTP(ctx, o, n, distpacDir) })
		}
		if o.Aria2 && haveAria2() {
			measure("aria2", n, func(dir string) (Row, error) { return runAria2(ctx, o, loopbackLayout(n, false), pkg, dir) })
		}
		if o.Transmission {
			measure("transmission", n, func(dir string) (Row, error) { return runTransmission(ctx, o, n, pkg, dir) })
		}
		if o.Libtorrent {
			for _, super := range []bool{false, true} {
				method := methodLibtorrent
				if super {
					method = methodLibtorrentSuper
				}
				measure(method, n, func(dir string) (Row, error) {
					return runLibtorrent(ctx, o, loopbackLayout(n, true), pkg, dir, super)
				})
			}
		}
	}
	if ctx.Err() == nil {
		fmt.Fprintf(o.Stderr, "fast start ...\n")
		first, done, err := FastStart(ctx, filepath.Join(work, "faststart"), 64<<10)
		r := Row{Method: "fast start 64KiB", N: 1, F: 64 << 10, U: 0, UC: 0, Last: done, Mean: done, Max: done, FirstByte: first, Bound: time.Millisecond}
		add(r, err)
	}
	return rows, errors.Join(errs...)
}

// writePackage makes a package whose asset is f random (incompressible) bytes.
func writePackage(dir string, f int64) error {
	for _, d := range []string{"assets", "scripts"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"manifest.yaml":        "name: benchpkg\nversion: 1.0.0\ndescription: swarm benchmark payload\n",
		"scripts/install.sh":   "#!/bin/sh\ntest -s \"$DISTPAC_ASSETS/payload\"\n",
		"scripts/uninstall.sh": "#!/bin/sh\nexit 0\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	out, err := os.Create(filepath.Join(dir, "assets", "payload"))
	if err != nil {
		return err
	}
	defer out.Close()
	r := rand.New(rand.NewPCG(uint64(f), 42))
	buf := make([]byte, 1<<20)
	for left := f; left > 0; {
		for i := 0; i+8 <= len(buf); i += 8 {
			v := r.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		n := min(left, int64(len(buf)))
		if _, err := out.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return out.Close()
}

// summarise fills Last, Mean and Max from per-client durations.
func summarise(r *Row, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var sum time.Duration
	for _, t := range times {
		sum += t
	}
	r.Mean = sum / time.Duration(len(times))
	r.Max = times[len(times)-1]
	r.Last = r.Max
}
