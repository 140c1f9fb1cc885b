package swarm

// Web seeds that answer busy: a 503 or 429 with Retry-After (dist-server's
// catalog listener with every descriptor in use asks for 10 s, connlimit).
// A download whose only sources they are waits for them, says so
// (Progress.Busy), and gives up after DefaultBusyWait.

import (
	"time"
)

// DefaultBusyWait is how long a download waits for web seeds that answer
// only busy while no peer sends anything: then it fails with a
// NoSourceError that says the server is busy. apt asks a mirror that
// fails again three times (Acquire::Retries), a few seconds apart, and
// then gives up with the server's answer; here the server says when to
// ask again, so the wait is in time: as long as the longest Retry-After
// honoured (maxRetryAfter), six of dist-server's 10 s, and with the
// no-source wait after it about half the two-minute stall timeout, which
// a download waiting on a busy server otherwise ran into, silent, and
// ended with "no data received for 2m0s from any peer or web seed"
// (127.0.0.1, a server answering 503 Retry-After: 10 to every request).
const DefaultBusyWait = maxRetryAfter

// BusySeed is a web seed that answered busy, which a download with no
// other source waits for (Progress.Busy): the client prints it, once per
// seed, so that a user sees why nothing arrives.
type BusySeed struct {
	// Seed is the seed's base URL, as messages show it (redact.URL): one
	// server answers for every archive under it.
	Seed string `json:"seed"`
	// Said is its answer: "HTTP 503 Service Unavailable (busy: asked to
	// retry after 10s)".
	Said string `json:"said"`
	// For is how long, at most, the download waits for busy seeds
	// (Config.BusyWait).
	For time.Duration `json:"for_ns"`
}

// busySeed is the first seed of errs whose last answer was busy, as
// Progress.Busy shows it; nil for none.
func (errs seedErrors) busySeed(wait time.Duration) *BusySeed {
	seed, w := seedAnswer(errs, isBusy)
	if w == nil {
		return nil
	}
	return &BusySeed{Seed: seed, Said: w.Error(), For: wait}
}

// isBusy: the seed answered busy, an HTTP status with a Retry-After.
func isBusy(w *webStatusError) bool { return w.retryAfter > 0 }
