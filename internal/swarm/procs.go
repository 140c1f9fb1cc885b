package swarm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/distpac/distpac/internal/procs"
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

// GovernProcs sets GOMAXPROCS from the payload the process's engines move
// (peers, web seeds and local verification) until ctx ends (procs.Govern).
// Call it once, from a long-running command: it changes the whole process.
func GovernProcs(ctx context.Context) { procs.Govern(ctx, movedBytes) }
