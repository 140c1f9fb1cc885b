package swarm

import (
	"time"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/redact"
)

// webTurn is a Download's state of its web seeds between ticks: which
// seed is asked next, when the last fetch started, and how long every
// seed has waited out a busy answer. Download decides at each tick
// whether the seeds count as a source (source) and when a fetch starts
// (start); the fetch itself runs beside it (startWebFetch).
type webTurn struct {
	seeds      []string // WebSeedOrder's, in the order asked
	lastResort bool     // the seeds are the servers' /packages/, asked only when BitTorrent has no source
	// next counts the seeds asked, over rounds: seeds[next%len] is the
	// next. last is when the last fetch started (zero before the first).
	next int
	last time.Time
	// busySince is when every web seed was first found waiting out a
	// busy answer with nothing received since (zero: not so); past
	// busyWait they no longer count as a source, nor are asked again.
	// busy is the seed waited for (Progress.Busy).
	busySince time.Time
	busy      *BusySeed
	// This tick's look: the seed to ask (next, or past the seeds
	// waiting), whether every seed waits, and whether they waited past
	// busyWait.
	pick             int
	waiting, busyOut bool
	// A piece the running fetch holds far longer than the seeds achieve
	// is asked of the next seed too (hedge.go).
	race hedger
}

// heard is called when data came: the seeds' busy wait starts again.
func (w *webTurn) heard() { w.busySince, w.busy = time.Time{}, nil }

// look picks this tick's seed. A web seed that answered 503 with
// Retry-After (dist-server with every descriptor in use) is asked again
// once that passed, the next seed meanwhile (readySeed). When every seed
// waits, the download waits with them: they said when to come back (at
// most maxRetryAfter), so they count as sources (source), for busyWait at
// most with nothing received (DefaultBusyWait); the progress says so
// (Progress.Busy). A plain 503 is a failure as before. sinceMoved is how
// long nothing came.
func (w *webTurn) look(errs seedErrors, running bool, sinceMoved, busyWait time.Duration, now time.Time) {
	w.pick, w.waiting = w.next, false
	if len(w.seeds) > 0 && !running {
		w.pick, w.waiting = readySeed(errs, w.seeds, w.next, now)
		if w.waiting {
			if w.busySince.IsZero() {
				w.busySince = now
			}
			// Said only once nothing came for strandedAfter: a peer
			// still sending (slowly enough that the seed was asked)
			// got "no peer sends the archive" said of it.
			if sinceMoved > strandedAfter {
				w.busy = errs.busySeed(busyWait)
			}
		}
	}
	w.busyOut = !w.busySince.IsZero() && now.Sub(w.busySince) > busyWait
	if w.busyOut {
		w.busy = nil // no longer waited for
	}
}

// source reports whether the seeds, every one waiting out a busy answer
// within busyWait, count as a source at this tick.
func (w *webTurn) source() bool { return w.waiting && !w.busyOut }

// webTick is what start weighs at a tick of a Download.
type webTick struct {
	now     time.Time
	running bool  // a fetch runs
	err     error // the seeds' last errors (webSeedState)
	// noSource: no peer connected or being dialled, nothing came for
	// strandedAfter, and every tracker has answered.
	noSource  bool
	seedsConn bool // a peer that has every piece is connected
	// moved is when data last came; peersQuiet when peers last sent
	// peerFloorBytes; swarmMoved when a connected peer last gained a
	// piece.
	moved, peersQuiet, swarmMoved time.Time
	after                         time.Duration // Engine.webSeedAfter
}

// start starts a fetch of t's missing pieces from this tick's seed when
// its turn has come, and runs the hedge's race.
//
// With nothing else left to try (k.noSource) the first web seed is asked
// at once rather than after webSeedAfter: a publisher that is down
// behind a working mirror cost a 5 s wait per install. Peers connected
// that hold nothing the download lacks do not count as none: in a flash
// crowd the leechers hold what the busy publisher sent them, and a client
// that asked its server's /packages/ then took the publisher's uplink
// from the swarm (bench-net N=32 at 20 ms: 2.6-7.4 x the bound, publisher
// egress 2.5-7.2 F, against 1.28 and 1.15 F;
// TestWebSeedWaitsWhilePeersHoldNothing).
func (w *webTurn) start(e *Engine, t *torrent.Torrent, xfer *transferState, k webTick) {
	stranded := w.last.IsZero() && k.noSource
	// Last-resort seeds (WebSeedOrder) only then, or when no seed is
	// connected and nothing came for webSeedAfter: peers that have
	// nothing to give (leechers only), or a publisher whose address
	// drops the dial (a half-open dial lasts about 20 s, and the
	// publisher's seeder is dialled again every directRedial).
	// And when peers, seeds among them, have sent next to nothing
	// (peerFloorBytes) for swarmWaits times webSeedAfter (20 s by
	// default, the longest a moving swarm makes the web seeds wait)
	// and the connected peers gained no piece for webSeedAfter: a
	// connected "seed" that never sends, or trickles, held the last
	// resort off for good, and with it a mirror's whole round; a
	// leecher choked for a while in a moving swarm still waits.
	peersIdle, swarmIdle := k.now.Sub(k.peersQuiet), k.now.Sub(k.swarmMoved)
	allowed := !w.lastResort || k.noSource || !k.seedsConn && k.now.Sub(k.moved) > k.after ||
		peersIdle > swarmWaits*k.after && swarmIdle > k.after
	// A failed seed hands over at once within its round only: seeds
	// skipped as waiting count as tried, and a pick past the round's
	// end waits for the next round (a failing seed beside a waiting
	// one would otherwise be asked again at every tick).
	n := len(w.seeds)
	failover := n > 0 && w.pick/n == w.next/n && failedOver(w.last, k.running, k.err, w.next, n)
	if n > 0 && allowed && !w.waiting && !w.busyOut && (stranded || failover ||
		webSeedDue(peersIdle, swarmIdle, k.after) && k.now.Sub(w.last) > k.after) {
		seed := w.seeds[w.pick%n]
		if e.startWebFetch(t, seed, webLabel(w.lastResort), w.pick%n != n-1) { // the round's last seed has no rate floor
			w.next = w.pick + 1
			w.last = time.Now()
			e.logger.Info("no data from peers; fetching the missing pieces over HTTP", "torrent", t.Name(), "from", webLabel(w.lastResort), "seed", redact.URL(seed), "idle", k.now.Sub(k.moved).Round(time.Second))
		}
	}
	errs, _ := k.err.(seedErrors)
	w.race.tick(e, t, xfer, w.seeds, errs, w.next)
}

// failedOver reports that the last web-seed fetch (started at lastWeb)
// has failed and seeds of this round are still untried: the next one
// starts at once.
func failedOver(lastWeb time.Time, running bool, lastErr error, nextSeed, seeds int) bool {
	return !lastWeb.IsZero() && !running && lastErr != nil && nextSeed%seeds != 0
}
