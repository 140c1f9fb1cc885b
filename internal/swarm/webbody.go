package swarm

// Reading a web seed's body: a seed silent too long, or sending under the
// rate floor while another seed of the round is untried, is given up, and
// the bytes count against the download cap (webfetch.go asks, and
// checks each piece).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// webSeedIdle is how long a web seed may send nothing in the middle of a
// response before the fetch gives up on it; webSeedSlowAfter while
// another seed of the round is still untried (the rate floor's time: a
// seed silent that long is under any floor, but a read that never
// returns never reaches the floor's check, and a seed that answered its
// headers and then sent nothing held a download for 31 s while a
// working seed came next in the list).
const webSeedIdle = 30 * time.Second

// webSeedSilent is the error of a web seed that sent nothing for its idle
// time in the middle of a response: the reads it cut short said only
// "context canceled".
type webSeedSilent struct{ idle time.Duration }

func (e *webSeedSilent) Error() string {
	return fmt.Sprintf("answered, then sent nothing for %s", e.idle)
}

// A web seed that, webSeedSlowAfter into a response, has sent less than
// webSeedMinRate bytes a second of the time spent waiting on it (not on
// the download cap) is given up while another seed of the round is still
// untried, so that it gets its turn: one that drips a byte every 20 s
// restarts webSeedIdle each time, and held an install for its whole 2
// minutes while a working server came after it in server_urls. The last
// seed of a round has no floor: a slow link (or 64 fetches sharing one)
// still finishes its pieces, where a floor would drop each partial piece
// and ask for it again for ever.
const (
	webSeedSlowAfter = 10 * time.Second
	webSeedMinRate   = 4 << 10
)

// webSeedReader reads a web seed's body: each read pushes the idle
// deadline back, the bytes count against the download cap, and a body that
// arrives under minRate (over the time spent in its reads, past slowAfter
// of it) fails.
type webSeedReader struct {
	ctx       context.Context
	r         io.Reader
	idle      *time.Timer
	idleFor   time.Duration // what a read resets idle to; 0 is webSeedIdle
	limit     *rate.Limiter
	readNS    *atomic.Int64 // when a byte last came, for the download (transferState.webReadNS); may be nil
	stat      *seedStat     // records the seed's bytes for the download; may be nil
	off       int64         // where in the torrent the body's next byte goes (stat)
	pieceLen  int64
	slowAfter time.Duration
	minRate   float64
	waited    time.Duration // in the body's reads
	n         int64
}

// errSlowWebSeed: a web seed sent under its minimum rate.
var errSlowWebSeed = errors.New("too slow")

func (w *webSeedReader) Read(p []byte) (int, error) {
	if w.limit != nil && len(p) > w.limit.Burst() {
		p = p[:w.limit.Burst()]
	}
	t0 := time.Now()
	n, err := w.r.Read(p)
	w.waited += time.Since(t0)
	w.n += int64(n)
	if w.stat != nil {
		w.stat.got(w.off, int64(n), w.pieceLen) // before the floor's check: what came, came
	}
	w.off += int64(n)
	if w.minRate > 0 && w.waited > w.slowAfter && float64(w.n) < w.minRate*w.waited.Seconds() {
		return n, fmt.Errorf("%w: %d bytes in %s, under %.0f KiB/s", errSlowWebSeed, w.n, w.waited.Round(time.Second), w.minRate/1024)
	}
	if n > 0 {
		if w.readNS != nil {
			w.readNS.Store(time.Now().UnixNano())
		}
		if w.limit != nil {
			// The download cap's wait is this client's, not the seed's
			// silence: at a cap under burst/idle (1.6 KiB/s against the
			// 10 s of a seed with another untried) the idle timer ran out
			// in WaitN and gave up on a seed that was sending.
			w.idle.Stop()
			werr := w.limit.WaitN(w.ctx, n)
			w.idle.Reset(cmp.Or(w.idleFor, webSeedIdle))
			if werr != nil {
				return n, werr
			}
		} else {
			w.idle.Reset(cmp.Or(w.idleFor, webSeedIdle))
		}
	}
	return n, err
}
