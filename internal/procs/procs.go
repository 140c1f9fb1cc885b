// Package procs decides how many processors a process's Go code runs on
// (GOMAXPROCS): the one place the product's code changes it (the
// benchmark's delay line adds processors of its own, internal/bench).
//
// Two policies, one per kind of process:
//
//   - Govern, for a long-running engine process (dist-client daemon,
//     dist-server start and mirror): one processor while it moves little
//     data, every core as soon as it moves more.
//   - Serial and Parallel, for a command that works on installed packages
//     (install, upgrade, uninstall, ...): one processor for the most of it,
//     which runs on one goroutine or waits for the daemon, and every core
//     while a part that works on many goroutines or system calls runs
//     (extracting an archive, hashing a staged tree, an engine of its own).
//
// Why one processor: with an idle second processor, the runtime wakes and
// parks a thread for each goroutine that becomes runnable (a progress
// event, a database connection's goroutine, a timer), and on this machine
// a context switch costs ~10 µs of kernel time. An install of a 16 MiB
// package through its daemon, alone, Serial against no policy (eight
// alternations, medians): 124 against 131 ms of CPU, 468 against 540
// context switches. In dist-bench's swarm rows, where 32 installs share
// two cores with their daemons, it does not show (seven alternations at
// N=32: the installs' CPU 6.36 against 6.44 s on average, the same time):
// the runtime's start and the package inits, which run on every processor
// before Serial is called, are most of what one processor saved there
// (the installs at GOMAXPROCS=1 from the environment: 5.8–6.5 s against
// 6.2–7.6 s in four of those alternations). An extraction is better off
// on every core (archive.Extract's figures): hence Parallel.
//
// Hence also Start, which a dist-client calls in an init that runs before
// the libraries' (internal/procs/onestart): one processor from the start.
// Going to one processor later is not free: the runtime then flushes the
// second processor's allocation caches, which faults in a page for each
// size class it used, and a page's first touch costs ~19 µs on this
// machine (dist-bench's figure). `install --dry-run` of one package, 40
// interleaved runs: 1,108 page faults against 1,451 and 35.9 ms of CPU
// against 41.4 (medians).
package procs

import (
	"context"
	"os"
	"runtime"
	"sync"
	"time"
)

var (
	mu     sync.Mutex
	serial bool // Serial took effect: one processor unless held > 0; guarded by mu
	most   int  // the processors before Serial; guarded by mu
	held   int  // Parallel calls not yet released; guarded by mu
	// governed: Govern took the process over from Start; Serial and
	// Parallel then change nothing. Guarded by mu.
	governed bool
)

// Start puts the process on one processor from its start, as Serial would
// later, for a dist-client command (internal/procs/onestart calls it in
// an init that runs before the libraries' inits). Later, Serial does
// nothing, Parallel gives every core back while held, and Govern (the
// daemon) takes over with every core to govern.
func Start() { Serial() }

// userSet reports whether the user chose the processors (the GOMAXPROCS
// environment variable): then neither policy changes them.
func userSet() bool { return os.Getenv("GOMAXPROCS") != "" }

// Serial runs the process's Go code on one processor from now on, except
// while a Parallel is held. It does nothing when GOMAXPROCS is set in the
// environment, there is one core or Govern runs, and nothing the second
// time. undo
// puts the process back as it was (for tests: a command never needs to).
func Serial() (undo func()) {
	mu.Lock()
	defer mu.Unlock()
	nothing := func() {}
	if serial || governed || userSet() {
		return nothing
	}
	n := runtime.GOMAXPROCS(0)
	if n <= 1 {
		return nothing
	}
	serial, most = true, n
	if held == 0 {
		runtime.GOMAXPROCS(1)
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if serial {
			serial = false
			runtime.GOMAXPROCS(most)
		}
	}
}

// Parallel gives the process back every processor it had before Serial
// until release is called (once; later calls do nothing). Calls nest:
// the process goes back to one processor when the last is released.
// Without Serial it changes nothing.
func Parallel() (release func()) {
	mu.Lock()
	defer mu.Unlock()
	held++
	if serial && held == 1 {
		runtime.GOMAXPROCS(most)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			held--
			if serial && held == 0 {
				runtime.GOMAXPROCS(1)
			}
		})
	}
}

// An engine process runs on one processor while it moves little data, and
// on every core as soon as it moves more. On capped links the engine's
// work is many small events (a chunk, a have, a timer) spread over
// goroutines. Measured in one bench-swarm row (N=16, F=16 MiB,
// U=u=2 MiB/s; seeder and 16 daemons on 2 cores), every process at
// GOMAXPROCS=1 against 2: CPU 11.0 s against 13.6 s, context switches
// 345,000 against 481,000, futex calls 100,000 against 180,000, and the
// row finished sooner (1.17 against 1.22 × the bound). One processor
// carries about 150 MiB/s of payload here, so past governHighRate the
// process takes every core again at once (a fast download from one
// seeder, a seeder verifying its archives).
const (
	// governTick is how often Govern measures.
	governTick = 250 * time.Millisecond
	// governHighRate: bytes per second moved above which every core is
	// used.
	governHighRate = 32 << 20
	// governLowRate: below this for governLowTicks in a row, one
	// processor.
	governLowRate  = 16 << 20
	governLowTicks = 4
)

// Govern sets GOMAXPROCS from the rate at which moved (the bytes the
// process has moved so far: payload in and out, verified) grows, until
// ctx ends, then gives every core back. It does nothing when GOMAXPROCS is
// set in the environment or there is one core. Call it once, from a
// long-running command: it changes the whole process.
func Govern(ctx context.Context, moved func() int64) {
	mu.Lock()
	n := runtime.GOMAXPROCS(0)
	if serial { // Start: the daemon of a dist-client
		n, serial, governed = most, false, true
	}
	mu.Unlock()
	if userSet() || n <= 1 {
		return
	}
	// From the processors it has now: one after Start.
	g := governor{most: n, cur: runtime.GOMAXPROCS(0), last: moved()}
	go func() {
		t := time.NewTicker(governTick)
		defer t.Stop()
		defer runtime.GOMAXPROCS(n)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if p := g.next(moved()); p != g.cur {
				runtime.GOMAXPROCS(p)
				g.cur = p
			}
		}
	}()
}

// governor decides the processors from one tick's bytes.
type governor struct {
	most, cur int
	last      int64 // bytes moved at the last tick
	low       int   // ticks in a row below governLowRate
}

// next takes the bytes moved so far and returns the processors to use.
func (g *governor) next(moved int64) int {
	rate := float64(moved-g.last) / governTick.Seconds()
	g.last = moved
	switch {
	case rate >= governHighRate:
		g.low = 0
		return g.most
	case rate < governLowRate:
		g.low++
		if g.low >= governLowTicks {
			return 1
		}
	default:
		g.low = 0
	}
	return g.cur
}
