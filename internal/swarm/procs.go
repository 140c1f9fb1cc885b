package swarm

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A long-running engine process (dist-client daemon, dist-server start and
// mirror) runs Go code on one processor while it moves little data, and on
// every core as soon as it moves more. On capped links the engine's work
// is many small events (a chunk, a have, a timer) spread over goroutines;
// with an idle second processor the runtime wakes and parks threads for
// each of them. Measured in one bench-swarm row (N=16, F=16 MiB,
// U=u=2 MiB/s; seeder and 16 daemons on 2 cores), every process at
// GOMAXPROCS=1 against 2: CPU 11.0 s against 13.6 s, context switches
// 345,000 against 481,000, futex calls 100,000 against 180,000, and the
// row finished sooner (1.17 against 1.22 × the bound). One processor
// carries about 150 MiB/s of payload here, so past procsHighRate the
// engine takes every core again at once (a fast download from one seeder,
// a seeder verifying its archives).

const (
	// procsTick is how often the governor measures.
	procsTick = 250 * time.Millisecond
	// procsHighRate: payload bytes per second (in and out, peers, web
	// seeds and local verification) above which every core is used.
	procsHighRate = 32 << 20
	// procsLowRate: below this for procsLowTicks in a row, one processor.
	procsLowRate  = 16 << 20
	procsLowTicks = 4
)

var (
	enginesMu sync.Mutex
	engines   = map[*Engine]struct{}{} // open engines of the process; guarded by enginesMu

	// verifiedBytes counts payload bytes hashed by verifyPayload.
	verifiedBytes atomic.Int64
)

func registerEngine(e *Engine) {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	engines[e] = struct{}{}
}

func unregisterEngine(e *Engine) {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	delete(engines, e)
}

// movedBytes is the payload moved by the process's engines so far.
// Closed engines drop out, which reads as a low rate for a tick.
func movedBytes() int64 {
	enginesMu.Lock()
	list := make([]*Engine, 0, len(engines))
	for e := range engines {
		list = append(list, e)
	}
	enginesMu.Unlock()
	n := verifiedBytes.Load()
	for _, e := range list {
		s := e.cl.Stats()
		n += s.BytesReadData.Int64() + s.BytesWrittenData.Int64() + e.webBytes.Load()
	}
	return n
}

// GovernProcs sets GOMAXPROCS from the engines' transfer rate until ctx
// ends, then gives every core back. It does nothing when the GOMAXPROCS
// environment variable is set (the user decided) or there is one core.
// Call it once, from a long-running command: it changes the whole
// process.
func GovernProcs(ctx context.Context) {
	most := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" || most <= 1 {
		return
	}
	go func() {
		t := time.NewTicker(procsTick)
		defer t.Stop()
		defer runtime.GOMAXPROCS(most)
		g := procsGovernor{most: most, cur: most, last: movedBytes()}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n := g.next(movedBytes()); n != g.cur {
				runtime.GOMAXPROCS(n)
				g.cur = n
			}
		}
	}()
}

// procsGovernor decides the processors from one tick's bytes.
type procsGovernor struct {
	most, cur int
	last      int64 // bytes moved at the last tick
	low       int   // ticks in a row below procsLowRate
}

// next takes the bytes moved so far and returns the processors to use.
func (g *procsGovernor) next(moved int64) int {
	rate := float64(moved-g.last) / procsTick.Seconds()
	g.last = moved
	switch {
	case rate >= procsHighRate:
		g.low = 0
		return g.most
	case rate < procsLowRate:
		g.low++
		if g.low >= procsLowTicks {
			return 1
		}
	default:
		g.low = 0
	}
	return g.cur
}
