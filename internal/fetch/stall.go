package fetch

// When a fetch gives up on downloads that stalled (--stall-timeout), and
// the error that says what each source did meanwhile.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/stall"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/units"
)

// defaultStall is the stall timeout when Options.StallTimeout is 0.
const defaultStall = 2 * time.Minute

// stallFloor is the least rate, in bytes a second over the stall timeout,
// that counts as progress: a fetch fails once its sources together sent
// less than stallFloor × the timeout (120 KiB in 2 minutes) since the
// timeout was last pushed back. Bytes count as they come: a peer's chunk
// (64 KiB from distpac, 16 KiB from other clients) and a web seed's body
// bytes, a piece whole or not (swarm.Sources).
//
// The watchdog counted the engine's completed bytes, which take a peer's
// chunks as they come but a web seed's bytes only once a piece is whole
// (64 KiB pieces up to 64 MiB archives, 1 MiB up to 4 GiB, 4 MiB past it):
// a web seed at under a piece per timeout (546 B/s at 64 KiB pieces, 34
// KiB/s at 4 MiB) failed the install with "no data received" though it
// sent, and one at 16 KiB/s of 64 KiB pieces failed an install with a 3 s
// timeout (TestStallCountsWebSeedBytes). Counted per byte with no floor,
// a web seed that drips a byte a second (an attacker's run) would hold an
// install for good: the engine's own rate floor (webSeedMinRate, 4 KiB/s)
// spares the last seed of a round, so that a slow link still finishes.
//
// 1 KiB/s is a quarter of that web-seed floor and a sixth of what counts
// as a peer sending (6.4 KiB/s, peerFloorBytes); a dial-up line's 5 KiB/s
// beats it; at 1 KiB/s a 4 MiB archive takes over an hour. The drip sends
// 120 B in 2 minutes, a thousandth of it. A download_rate_limit under
// 2 KiB/s lowers it to half the limit, which a capped download keeps.
const stallFloor = 1 << 10

// stallRate is the floor for a client whose download_rate_limit is limit
// bytes a second (0: none).
func stallRate(limit int64) int64 {
	if limit > 0 {
		return max(1, min(stallFloor, limit/2))
	}
	return stallFloor
}

// errStalled is the cause a stalled fetch's context ends with.
var errStalled = errors.New("fetch stalled")

// newStallWatch watches a fetch under the options' stall timeout and
// floor.
func (o *Options) newStallWatch(ctx context.Context) (*stall.Watch, time.Duration, int64) {
	after := o.StallTimeout
	if after <= 0 {
		after = defaultStall
	}
	var limit int64
	if o.Config != nil {
		limit = int64(o.Config.DownloadRateLimit)
	}
	rate := stallRate(limit)
	w := stall.New(ctx, after, errStalled)
	w.Floor(max(1, int64(float64(rate)*after.Seconds())))
	return w, after, rate
}

// StallError is a fetch that stalled: its sources sent less than Rate
// bytes a second for After. Window is what they did in that time (Known:
// the source said, swarm.Sources; a daemon older than it does not).
type StallError struct {
	After    time.Duration
	Rate     int64
	Received int64 // in the window, over all sources
	Known    bool
	Window   swarm.Sources
}

func (e *StallError) Error() string {
	msg := fmt.Sprintf("no data received for %s from any peer or web seed", e.After)
	if e.Received > 0 {
		msg = fmt.Sprintf("only %s received in %s from all peers and web seeds, under %s",
			units.FormatBytes(e.Received), e.After, units.FormatRate(float64(e.Rate)))
	}
	if e.Known {
		msg += ": " + e.Window.Describe()
	}
	return msg
}

// Is matches errStalled.
func (e *StallError) Is(target error) bool { return target == errStalled }

// stallState is what the stall watch counted, and the sources when it
// last pushed its limit back (the window's start); guarded by the
// fetch's mu.
type stallState struct {
	known            bool
	now, base        swarm.Sources
	count, baseCount int64
	started          bool
}

// sources records what the sources sent so far.
func (s *stallState) sources(now swarm.Sources) {
	s.known, s.now = true, now
}

// progress feeds w with the bytes the sources sent (done, the completed
// bytes, where the source does not say: test sources, an older daemon).
func (s *stallState) progress(w *stall.Watch, done int64) {
	s.count = done
	if s.known {
		s.count = s.now.Received()
	}
	if w.Progress(s.count) || !s.started || s.count < s.baseCount {
		s.started = true
		s.base, s.baseCount = s.now, s.count
	}
}

// err is the error of a fetch that stalled after.
func (s *stallState) err(after time.Duration, rate int64) *StallError {
	return &StallError{After: after, Rate: rate, Received: max(0, s.count-s.baseCount), Known: s.known, Window: s.now.Since(s.base)}
}
