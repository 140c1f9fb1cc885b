package daemon

import (
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/ui"
)

// What the client takes from the daemon's answers to show the user
// (errors, warnings, web seeds' names and words, hosts) is made safe to
// show here, where it crosses the socket (ui.Untrusted): whatever answers
// there (a fake daemon of the same user, a buggy one) is another
// process, and its text reached the user's terminal as it came, escape
// sequences and 5,000-byte lines included. Honest text, which a terminal
// only prints, passes unchanged; names only matched against the plan
// (Prefix's keys) are left as they are.
const (
	// maxShownError bounds a download's error as the daemon sent it: a
	// stall's names up to four web seeds with their last answer and
	// failure (each at most 256 bytes, swarm's maxSeedText) and the
	// archives, well under it.
	maxShownError = 4 << 10
	// maxShownField bounds a name, URL, host or web seed's answer.
	maxShownField = 512
	// maxShownBytes, maxShownCount and maxShownTime bound a report's
	// numbers: 1 PiB, a million, a year. A request's reports (at most
	// maxItems) sum to under 2^63.
	maxShownBytes = 1 << 50
	maxShownCount = 1 << 20
	maxShownTime  = 365 * 24 * time.Hour
)

func shownField(s string) string { return ui.Untrusted(s, maxShownField) }

// shown makes ev's text safe to show.
func (ev *Event) shown() {
	ev.Error = ui.Untrusted(ev.Error, maxShownError)
	ev.FailedArchive = shownField(ev.FailedArchive)
	if r := ev.Refused; r != nil {
		r.URL, r.UnauthorizedURL = shownField(r.URL), shownField(r.UnauthorizedURL)
	}
	if ev.Completed != nil {
		ev.Completed.shown()
	}
	for i := range ev.Reports {
		ev.Reports[i].shown()
	}
	for i := range ev.Stopped {
		ev.Stopped[i].shown()
	}
	if b := ev.Busy; b != nil {
		b.Seed, b.Said = shownField(b.Seed), shownField(b.Said)
	}
	ev.Peers = bounded(ev.Peers, maxShownCount)
	if s := ev.Sources; s != nil {
		// The install's stall watchdog counts these bytes, and its error
		// says them: "only 4.0 EiB received in 5s" of a fake daemon.
		s.Peers, s.FromPeers = bounded(s.Peers, maxShownCount), bounded(s.FromPeers, maxShownBytes)
		for i := range s.WebSeeds {
			w := &s.WebSeeds[i]
			w.Seed, w.URL, w.Answer, w.Failed = shownField(w.Seed), shownField(w.URL), shownField(w.Answer), shownField(w.Failed)
			w.Asked, w.Sent, w.Again = bounded(w.Asked, maxShownCount), bounded(w.Sent, maxShownBytes), bounded(w.Again, maxShownBytes)
		}
	}
}

// bounded is n within 0..most.
func bounded[T ~int | ~int64](n, most T) T { return min(max(n, 0), most) }

// checkProgress says what is wrong with an event's byte counts, nil when
// they are what a download can report (0 <= Bytes <= Total, within
// maxShownBytes). A fake daemon's endless events of -5 and 2^62 bytes
// held an install for its stall timeout, which then said "only 4.0 EiB
// received in 5s … under 1.0 KiB/s".
func (ev *Event) checkProgress() error {
	if ev.Bytes < 0 || ev.Total < 0 || ev.Bytes > ev.Total || ev.Total > maxShownBytes {
		return fmt.Errorf("daemon: bad event: %d bytes downloaded of %d", ev.Bytes, ev.Total)
	}
	return nil
}

// shown makes r's text safe to show: the web seeds' hosts name where
// bytes came from in the transfer report. Its numbers are kept within
// what a download can be (0..maxShownBytes, counts and times likewise),
// so that the report's sums over thousands of archives cannot overflow
// into negative sizes and rates ("-8.0 EiB/s", a review's fake daemon).
func (r *Report) shown() {
	r.Archive, r.InfoHash = shownField(r.Archive), shownField(r.InfoHash)
	for i, h := range r.WebSeeds {
		r.WebSeeds[i] = shownField(h)
	}
	t := &r.Transfer
	for _, n := range []*int64{&t.Total, &t.FromSeeder, &t.FromMirrors, &t.FromPeers, &t.FromWebSeed, &t.AlreadyHad, &t.Wasted} {
		*n = bounded(*n, maxShownBytes)
	}
	t.Peers, t.Mirrors, t.HashFailures = bounded(t.Peers, maxShownCount), bounded(t.Mirrors, maxShownCount), bounded(t.HashFailures, maxShownCount)
	t.FirstByte, t.Elapsed = bounded(t.FirstByte, maxShownTime), bounded(t.Elapsed, maxShownTime)
}

// shown makes st's text safe to show (dist-client status prints it).
func (st *Status) shown() {
	st.Listen, st.Seed = shownField(st.Listen), shownField(st.Seed)
	for i := range st.Items {
		it := &st.Items[i]
		it.InfoHash, it.Name, it.State = shownField(it.InfoHash), shownField(it.Name), shownField(it.State)
	}
}
