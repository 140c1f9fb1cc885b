package swarm

import (
	"errors"
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/stall"
	"github.com/distpac/distpac/internal/units"
)

// ErrStalled matches a *StallError.
var ErrStalled = errors.New("the download stalled")

// StallError is a download (an install's, a mirror's) whose sources sent
// less than Rate bytes a second for After, which its stall watchdog
// (internal/stall) gave up on. Window is what they did in that time
// (Known: the source said, Sources; a daemon older than it does not), so
// that the error names each web seed and the peers, not only the time.
type StallError struct {
	After    time.Duration
	Rate     int64
	Received int64 // in the window, over all sources
	Known    bool
	Window   Sources
}

// Error says what came in the window, and what each source did. Bytes
// a web seed sent again are no progress: with some in the window, what
// was received is "new" data, which said "no data received" beside "web
// seed … sent 120.0 KiB, all of it again" (a review).
func (e *StallError) Error() string {
	data, of := "data", ""
	if e.Known && e.Window.Again() > 0 {
		data, of = "new data", " of new data"
	}
	msg := fmt.Sprintf("no %s received for %s from any peer or web seed", data, e.After)
	if e.Received > 0 {
		msg = fmt.Sprintf("only %s%s received in %s from all peers and web seeds, under %s",
			units.FormatBytes(e.Received), of, e.After, units.FormatRate(float64(e.Rate)))
	}
	if e.Known {
		msg += ": " + e.Window.Describe()
	}
	return msg
}

// Is matches ErrStalled.
func (e *StallError) Is(target error) bool { return target == ErrStalled }

// StallWindow follows a download's sources for its stall watch
// (internal/stall): it feeds the watch the bytes they sent, and keeps what
// they had when the watch last saw progress, the start of the window a
// StallError describes. The install's fetch and a mirror's download use
// it; neither is safe for concurrent use without the caller's lock.
type StallWindow struct {
	known            bool // Sources was called (a daemon older than them sends none)
	now, base        Sources
	count, baseCount int64
	started          bool
}

// Sources records what the sources sent so far.
func (s *StallWindow) Sources(now Sources) {
	s.known, s.now = true, now
}

// Progress feeds w with the bytes the sources sent (done, the completed
// bytes, where they are not known: test sources, an older daemon).
func (s *StallWindow) Progress(w *stall.Watch, done int64) {
	s.count = done
	if s.known {
		s.count = s.now.Received()
	}
	if w.Progress(s.count) || !s.started || s.count < s.baseCount {
		s.started = true
		s.base, s.baseCount = s.now, s.count
	}
}

// Err is the error of a download whose watch stalled after, at less than
// rate bytes a second.
func (s *StallWindow) Err(after time.Duration, rate int64) *StallError {
	return &StallError{After: after, Rate: rate, Received: max(0, s.count-s.baseCount), Known: s.known, Window: s.now.Since(s.base)}
}
