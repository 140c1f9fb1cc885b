package swarm

// A web seed that holds a piece far longer than the seeds achieve loses
// it to the next seed. A download fetches from one web seed at a time,
// piece after piece of a range, so a seed that sends most of a range at
// once and one piece of it just above the install's floor (1 KiB/s) held
// the install for that piece, while the next seed in the list could have
// sent it in milliseconds: 56 s for a 64 KiB piece, over an hour for the
// 4 MiB pieces of archives over 4 GiB (TestSlowSeedLosesPiece). The rate
// floor of a seed with another after it (webSeedMinRate) is over the
// whole response, which a burst keeps high; the round's last seed has
// none, so that a slow link still finishes.
//
// As a BitTorrent client does with a peer far slower than the others for
// the block it holds (libtorrent's end-game asks for the last blocks from
// several peers, and a web seed's request is a range that can be cut),
// the download asks the next seed for the held piece too once it is held
// past hedgeAfter, a time that scales with the rate the seeds achieved.
// Whichever brings the piece first wins; the other's response is cut
// (its partial bytes were never written: a piece reaches the file only
// whole and matching its hash). A running fetch beaten to its piece fails
// with webSeedOutpaced, and the download hands over to the next seed as
// for any failure. With no other seed, nothing changes: the slow seed
// finishes. A seed asked for a piece and slower than the one holding it
// has a rate from then on, which makes further races unlikely: two seeds
// behind one slow link race for one piece, not for each.

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// hedgeFactor: a seed holding a piece hedgeFactor times longer than the
// piece takes at the rate a seed achieved loses it to that seed. Four
// leaves room for a seed whose rate varies (TCP, a busy disk) and still
// ends a 1 KiB/s trickle beside a seed of 10 KiB/s or more within the
// piece's time at 2.5 KiB/s.
const hedgeFactor = 4

// hedgeMin is the least a seed holds a piece before another seed is asked
// for it: a fast seed's piece takes milliseconds, and a pause of a
// second (a connection's slow start, a server's disk) is no reason to
// fetch it twice.
const hedgeMin = 2 * time.Second

// hedgeProbe is how long a seed may hold a piece when the next seed has
// sent nothing in the download yet (its rate unknown): the rate floor's
// time (webSeedSlowAfter). Asking it costs at most one piece, and tells
// its rate; at the seeds' best rate the wait is shorter.
const hedgeProbe = webSeedSlowAfter

// maxHedgeWait bounds hedgeAfter: a seed whose rate is all but nil is not
// asked.
const maxHedgeWait = 24 * time.Hour

// hedgeAfter is how long a fetch may hold a piece of pieceLen bytes
// before the next seed is asked for it too: hedgeFactor times the
// piece's time at alt, the rate the next seed achieved in the download
// (altKnown: it sent for some time), at least hedgeMin; for a seed not
// heard yet, hedgeProbe, or hedgeFactor times the piece's time at best
// (the best rate of any seed) when that is shorter.
func hedgeAfter(pieceLen int64, alt float64, altKnown bool, best float64) time.Duration {
	at := func(rate float64) time.Duration {
		if rate <= 0 || hedgeFactor*float64(pieceLen)/rate > maxHedgeWait.Seconds() {
			return maxHedgeWait
		}
		return time.Duration(hedgeFactor * float64(pieceLen) / rate * float64(time.Second))
	}
	if altKnown {
		return max(hedgeMin, at(alt))
	}
	d := hedgeProbe
	if best > 0 {
		d = min(d, at(best))
	}
	return max(hedgeMin, d)
}

// holding is the piece a fetch is reading, and since when.
type holding struct {
	piece atomic.Int64 // -1: none
	since atomic.Int64 // unix nanoseconds
}

func (h *holding) set(piece int, since time.Time) {
	h.since.Store(since.UnixNano())
	h.piece.Store(int64(piece))
}

func (h *holding) clear() { h.piece.Store(-1) }

// get is the piece held and since when; ok is false when none is.
func (h *holding) get() (piece int, since time.Time, ok bool) {
	p := h.piece.Load()
	return int(p), time.Unix(0, h.since.Load()), p >= 0
}

// webSeedOutpaced is the failure of a web seed that held a piece while
// another source (by, the seed asked for it too, or "" for a peer) sent
// it: the seed's fetch is cut, and the download goes on with the next.
type webSeedOutpaced struct {
	piece      int
	held, took time.Duration
	by         string
}

func (e *webSeedOutpaced) Error() string {
	by := "another source sent it"
	if e.by != "" {
		by = fmt.Sprintf("web seed %s sent it in %s", e.by, e.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("piece %d: too slow: %s while this one held it for %s", e.piece, by, e.held.Round(time.Millisecond))
}

// timed records that the seed's body gave n bytes of a piece in d (a
// whole piece, or the part of one a fetch read before it ended).
func (st *seedStat) timed(n int64, d time.Duration) {
	st.mu.Lock()
	st.pieceBytes += n
	st.pieceTime += d
	st.mu.Unlock()
}

// rate is the rate at which the seed's bodies gave the pieces it sent in
// the download, bytes a second; known is false while it sent none. A
// piece still being read does not count: a seed that sent three pieces
// at once and trickles the fourth keeps its rate, which the trickle is
// judged against.
func (st *seedStat) rate() (rate float64, known bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.pieceTime <= 0 {
		return 0, false
	}
	return float64(st.pieceBytes) / st.pieceTime.Seconds(), true
}

// seedRates is seed's rate (seedStat.rate) and the best rate of any of
// the download's seeds (0 when none is known).
func (s *transferState) seedRates(seed string) (rate float64, known bool, best float64) {
	s.mu.Lock()
	stats := slices.Clone(s.seedStats)
	s.mu.Unlock()
	for _, st := range stats {
		r, ok := st.rate()
		if ok {
			best = max(best, r)
		}
		if st.seed == seed {
			rate, known = r, ok
		}
	}
	return rate, known, best
}

// hedger is a Download's race for a piece its web-seed fetch holds (one
// at a time), and what it learnt from those before.
type hedger struct {
	race   *webRace
	failed []string  // seeds whose hedge ended without the piece: not asked again
	ended  time.Time // when the last race ended: the next one waits from there
}

// webRace is a piece held by primary and asked of hedge's seed too.
type webRace struct {
	piece          int
	primary, hedge *webFetch
	held, start    time.Time // when primary started on the piece; when hedge did
}

// tick judges the race running, or starts one when the running fetch of
// t has held its piece past hedgeAfter and a seed other than its own is
// ready: the one the download would fail over to (seeds from next on,
// not waiting out a Retry-After in errs, not failed as a hedge before).
func (h *hedger) tick(e *Engine, t *torrent.Torrent, xfer *transferState, seeds []string, errs seedErrors, next int) {
	if h.race != nil {
		h.judge(t)
		return
	}
	ih := t.InfoHash()
	e.mu.Lock()
	primary, hedging := e.fetches[ih], e.hedges[ih] != nil
	e.mu.Unlock()
	if primary == nil || hedging || xfer == nil {
		return
	}
	piece, since, ok := primary.hold.get()
	info := t.Info()
	if !ok || info == nil || piece >= info.NumPieces() || t.Piece(piece).State().Complete {
		return // a piece a peer brought is only read through
	}
	now := time.Now()
	alt, after := h.pick(seeds, next, primary.seed, info.Piece(piece).Length(), func(s string) bool { return now.After(errs.retryAt(s)) }, xfer.seedRates)
	if alt == "" {
		return
	}
	// The wait runs from the last race's end; what the seed is said to
	// have held, from its start on the piece (a second race said "held
	// it for 2.4s" of a piece held 4.7 s).
	from := since
	if from.Before(h.ended) {
		from = h.ended
	}
	if now.Sub(from) < after {
		return
	}
	f := e.launchFetch(t, e.hedges, &webFetch{seed: alt, label: primary.label, floor: true, only: piece})
	if f == nil {
		return
	}
	h.race = &webRace{piece: piece, primary: primary, hedge: f, held: since, start: now}
	e.logger.Info("a web seed holds a piece too long; asking the next one for it too", "torrent", t.Name(), "piece", piece,
		"seed", redact.URL(primary.seed), "held", now.Sub(since).Round(time.Millisecond), "next", redact.URL(alt))
}

// pick is the seed to ask for a held piece of pieceLen bytes and how long
// to wait before: the first from next on, in the order a failure hands
// over in, that is not the holder, did not fail a hedge before and is
// ready (not waiting out a Retry-After), and whose wait (hedgeAfter, from
// rates) is under maxHedgeWait. A seed whose known rate is all but nil
// (it answered and sent nothing) has the longest wait: taken first, it
// kept a good seed after it from ever being asked (the review).
func (h *hedger) pick(seeds []string, next int, holder string, pieceLen int64, ready func(string) bool,
	rates func(string) (float64, bool, float64)) (string, time.Duration) {
	for k := range seeds {
		s := seeds[(next+k)%len(seeds)]
		if s == holder || slices.Contains(h.failed, s) || !ready(s) {
			continue
		}
		rate, known, best := rates(s)
		if after := hedgeAfter(pieceLen, rate, known, best); after < maxHedgeWait {
			return s, after
		}
	}
	return "", 0
}

// judge ends the race once its piece is complete: a fetch still reading
// it lost, and is cut (the primary's seed with webSeedOutpaced, a
// failure; the hedge stopped); or once the hedge ended without the piece
// (a seed whose hedge failed is not asked again).
func (h *hedger) judge(t *torrent.Torrent) {
	r := h.race
	switch {
	case t.Piece(r.piece).State().Complete:
		if p, _, ok := r.primary.hold.get(); ok && p == r.piece && !r.primary.ended() {
			out := &webSeedOutpaced{piece: r.piece, held: time.Since(r.held)}
			if at := r.hedge.wroteAt.Load(); at != 0 {
				out.by, out.took = redact.URL(torrentmeta.WebSeedURL(r.hedge.seed, t.Name())), time.Unix(0, at).Sub(r.start)
			}
			r.primary.cancel(out)
		}
		r.hedge.cancel(nil) // done, or beaten: nothing more is wanted from it
	case r.hedge.ended():
		if r.hedge.err != nil { // not when stopped (the torrent restarted)
			h.failed = append(h.failed, r.hedge.seed)
		}
	default:
		return
	}
	h.race, h.ended = nil, time.Now()
}
