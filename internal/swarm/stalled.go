package swarm

import (
	"errors"
	"fmt"
	"time"

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

// Is matches ErrStalled.
func (e *StallError) Is(target error) bool { return target == ErrStalled }
