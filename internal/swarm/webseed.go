package swarm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// The HTTP fallback (DESIGN §2, web_seed): a torrent may name web seeds in
// its url-list (BEP 19); dist-server writes its own /packages/ there when
// web_seed is on. The library's web-seed client is off (ANACROLIX.md: a 5 s
// timer, deprioritised while peers exist, open panic reports), so this is
// distpac's own: when a download receives nothing from peers for
// DefaultWebSeedAfter (Config.WebSeedAfter) while its peers gain nothing
// either (webSeedDue), the pieces still missing are fetched over HTTP with range
// requests, each checked against its piece hash before it is written, and
// then verified by the library like any piece from a peer. Peers keep
// serving meanwhile; whichever brings a piece first wins.

// DefaultWebSeedAfter is how long a download may receive nothing from
// peers before it turns to the web seeds. On a LAN or loopback a seeder
// answers within milliseconds; 5 s leaves room for a slow tracker.
const DefaultWebSeedAfter = 5 * time.Second

// webSeedDue reports whether a download that has received nothing from
// peers for idle, while its peers have gained no piece for swarmIdle, turns to its
// web seeds: after the web-seed wait (after) with the swarm still, or
// after swarmWaits times that wait in any case. A swarm whose peers gain
// pieces is starting up and will serve this download soon: a capped
// publisher serves a few peers at a time and the rest wait for them. Those
// waiting fetched from the web seed after 5 s, which is the publisher's
// uplink again: bench-net N=64 at 100 ms with the lab's two cores saturated
// (32 KiB pieces) took 3.0 x the bound with the publisher sending 2.1 F,
// 1.15 F of it over HTTP; with this rule four such rows sent 1.14-1.16 F,
// none of it HTTP.
func webSeedDue(idle, swarmIdle, after time.Duration) bool {
	return idle > after && (swarmIdle > after || idle > swarmWaits*after)
}

// swarmWaits bounds how long a download waits for a swarm that moves but
// serves it nothing (peers that choke it, say): 4 web-seed waits, 20 s by
// default, well under a two-minute stall timeout.
const swarmWaits = 4

// peersGained reports whether a peer connected at the last look has more
// pieces now than then; held keeps each connected peer's count between
// looks (a peer that connects or leaves moves nothing). A look copies each
// peer's piece set (the library's PeerPieces), so Download looks once a
// second and only while no payload comes.
func peersGained(t *torrent.Torrent, held map[*torrent.PeerConn]uint64) bool {
	gained := false
	conns := t.PeerConns()
	now := make(map[*torrent.PeerConn]bool, len(conns))
	for _, pc := range conns {
		n := pc.PeerPieces().GetCardinality()
		if was, ok := held[pc]; ok && n > was {
			gained = true
		}
		held[pc], now[pc] = n, true
	}
	for pc := range held {
		if !now[pc] {
			delete(held, pc)
		}
	}
	return gained
}

// webSeedSpan bounds one range request; it is rounded to whole pieces.
const webSeedSpan = 4 << 20

// WebSeedOrder returns the web seeds a download tries, in order, for an
// engine whose mirrors are mirrorSeeds (Config.MirrorWebSeeds, the
// client's server_urls, each a MirrorSeed): the mirrors, then the
// torrent's own not among them; and whether they are a last resort.
// dist-client's dry run lists the same order. For a torrent whose
// publisher names web seeds they are asked when peers give nothing for
// webSeedAfter (webSeedDue: longer while the peers gain pieces). A torrent
// that names none (web_seed off: the publisher keeps its uplink for
// BitTorrent) gets the mirrors as a last resort, asked only when
// BitTorrent has no source (Download): with the publisher down behind a
// mirror in server_urls, its tracker and seeder down with it, such an
// install had no source at all (the mirror announces to the publisher's
// tracker only).
//
// A seed is left out when one before it is the same URL but for its user
// and password: a private repository behind basic auth is in server_urls
// with them, and its torrents name its public_url without (the
// publisher's, which no password belongs in); asked again without, it
// answers only 401. Credentials go to no other host than the one the
// client's server_urls give them for.
func WebSeedOrder(mirrorSeeds []string, torrentBytes []byte) (seeds []string, lastResort bool) {
	own := torrentmeta.WebSeeds(torrentBytes)
	var at []string // each seed's URL without its user and password
	for _, s := range append(slices.Clone(mirrorSeeds), own...) {
		if loc := redact.WithoutUser(s); !slices.Contains(at, loc) {
			seeds, at = append(seeds, s), append(at, loc)
		}
	}
	return seeds, len(own) == 0
}

// MirrorSeed is where a server of the catalog (the publisher's or a
// mirror's base URL) serves the archives: its /packages/ folder.
func MirrorSeed(base string) string { return strings.TrimRight(base, "/") + "/packages/" }

// MirrorSeeds is MirrorSeed of each server, in order.
func MirrorSeeds(servers []string) []string {
	seeds := make([]string, 0, len(servers))
	for _, u := range servers {
		seeds = append(seeds, MirrorSeed(u))
	}
	return seeds
}

// span is a run of whole pieces [first, end).
type span struct{ first, end int }

// missingSpans lists the pieces not yet complete as runs of at most
// maxPieces pieces.
func missingSpans(complete func(int) bool, numPieces, maxPieces int) []span {
	var out []span
	for i := 0; i < numPieces; {
		if complete(i) {
			i++
			continue
		}
		s := span{first: i, end: i}
		for s.end < numPieces && !complete(s.end) && s.end-s.first < maxPieces {
			s.end++
		}
		out = append(out, s)
		i = s.end
	}
	return out
}

// webFetch is one running web-seed fetch, of seed: of every missing
// piece, or (a hedge, hedge.go) of the one piece only that another
// seed's fetch holds too long. cancel's cause is nil when the fetch is
// stopped, a *webSeedOutpaced when another source beat it to its piece.
type webFetch struct {
	seed  string
	label string // webLabel
	floor bool   // a rate floor (webSeedMinRate): not the round's last seed
	only  int    // the one piece a hedge fetches; -1 for every missing piece
	hold  holding
	// wroteAt is when the fetch last handed a piece to the library (unix
	// nanoseconds; 0: none yet).
	wroteAt atomic.Int64
	cancel  context.CancelCauseFunc
	done    chan struct{}
	// err is how the fetch failed (nil: it did not, or was stopped);
	// read it once done is closed.
	err error
}

// ended reports whether the fetch has returned.
func (f *webFetch) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// webLabel names what a download fetches over HTTP in its errors: the
// torrent's web seeds, or the servers' /packages/ as a last resort for a
// torrent that names none (WebSeedOrder), which the no-source error
// called web seeds too (an operator's run, of a package without web_seed).
func webLabel(lastResort bool) string {
	if lastResort {
		return "HTTP (last resort)"
	}
	return "web seed"
}

// startWebFetch starts fetching t's missing pieces from seed in the
// background, unless a fetch for t already runs; label (webLabel) names
// the seed in its errors.
func (e *Engine) startWebFetch(t *torrent.Torrent, seed, label string, floor bool) bool {
	return e.launchFetch(t, e.fetches, &webFetch{seed: seed, label: label, floor: floor, only: -1}) != nil
}

// launchFetch runs f for t in the background and records it in running
// (e.fetches, or e.hedges) while it runs, unless one for t is there
// already; nil then, or when t was dropped or the engine closed. A fetch
// that fails, or is beaten to its piece (webSeedOutpaced), leaves its
// error in e.webErrs; one that ends well clears them (a hedge, its own
// seed's only); one stopped leaves nothing.
func (e *Engine) launchFetch(t *torrent.Torrent, running map[metainfo.Hash]*webFetch, f *webFetch) *webFetch {
	ih := t.InfoHash()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := running[ih]; busy || e.torrents[ih] != t {
		return nil // one at a time; none for a torrent dropped (and perhaps added again) since
	}
	select {
	case <-e.stop:
		return nil
	default:
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	f.hold.clear()
	running[ih] = f
	go func() {
		defer close(f.done)
		err := e.fetchWebSeed(ctx, t, f)
		e.mu.Lock()
		if running[ih] == f {
			delete(running, ih)
		}
		if failure(ctx) {
			f.err = err
			switch {
			case err != nil:
				e.webErrs[ih] = e.webErrs[ih].with(f.seed, err)
			case f.only >= 0:
				// A hedge that brought its piece speaks for its own
				// seed only: clearing every failure erased the
				// primary's "outpaced" when that was recorded first,
				// and the download then waited webSeedAfter for the
				// next seed (failedOver) instead of handing over.
				e.webErrs[ih] = e.webErrs[ih].without(f.seed)
			default:
				delete(e.webErrs, ih)
			}
		}
		e.mu.Unlock()
		if err != nil && failure(ctx) {
			e.logger.Warn("web seed failed", "torrent", t.Name(), "err", err)
		}
	}()
	return f
}

// failure reports whether a fetch under ctx that ended did so on its
// own (its error is the seed's), or because another source beat it to
// the piece it held (webSeedOutpaced: the seed's too); not when it was
// stopped.
func failure(ctx context.Context) bool {
	var out *webSeedOutpaced
	return ctx.Err() == nil || errors.As(context.Cause(ctx), &out)
}

// stopWebFetch cancels t's fetches, if any, and waits for them to end.
func (e *Engine) stopWebFetch(ih metainfo.Hash) {
	e.mu.Lock()
	fs := []*webFetch{e.fetches[ih], e.hedges[ih]}
	delete(e.fetches, ih)
	delete(e.hedges, ih)
	e.mu.Unlock()
	for _, f := range fs {
		if f != nil {
			f.cancel(nil)
			<-f.done
		}
	}
}

// webSeedState reports the seed of the web-seed fetch for ih that runs
// ("" for none), and how each web seed that failed since one last worked
// failed (nil when none did).
func (e *Engine) webSeedState(ih metainfo.Hash) (running string, failed error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.fetches[ih]; f != nil {
		running = f.seed
	}
	if errs := e.webErrs[ih]; len(errs) > 0 {
		failed = slices.Clone(errs) // a fetch ending updates the engine's in place
	}
	return running, failed
}

// seedErrors is each web seed's last failure, in the order they were
// first tried. A download with no source names every web seed that failed:
// with two servers in server_urls it named only the last one tried, though
// both were (a newcomer's run).
type seedErrors []seedError

type seedError struct {
	seed string
	err  error
	at   time.Time // when it failed
}

// with is errs with seed's failure err, in the place of its earlier one.
func (errs seedErrors) with(seed string, err error) seedErrors {
	for i := range errs {
		if errs[i].seed == seed {
			errs[i].err, errs[i].at = err, time.Now()
			return errs
		}
	}
	return append(errs, seedError{seed, err, time.Now()})
}

// without is errs without seed's failure.
func (errs seedErrors) without(seed string) seedErrors {
	return slices.DeleteFunc(errs, func(e seedError) bool { return e.seed == seed })
}

// failedSince reports whether seed's last fetch failed after t.
func (errs seedErrors) failedSince(seed string, t time.Time) bool {
	for _, e := range errs {
		if e.seed == seed {
			return e.at.After(t)
		}
	}
	return false
}

// readySeed picks the seed to ask next, from seeds[next%len] on in turn:
// the first whose last answer (errs) asked for no wait still running (a
// 503 or 429 with Retry-After, webStatusError.retryAt), as the count next
// goes on to (next, or past the seeds skipped); waiting is true when
// every seed is still waiting one out. A busy seed is asked again only
// once its Retry-After passed; meanwhile the next seed gets its turn.
func readySeed(errs seedErrors, seeds []string, next int, now time.Time) (int, bool) {
	for k := range seeds {
		if now.After(errs.retryAt(seeds[(next+k)%len(seeds)])) {
			return next + k, false
		}
	}
	return next, true
}

// retryAt is when seed asked to be asked again by its last answer (a
// 503 or 429 with Retry-After); zero when it asked nothing.
func (errs seedErrors) retryAt(seed string) time.Time {
	for _, e := range errs {
		if e.seed != seed {
			continue
		}
		var w *webStatusError
		if errors.As(e.err, &w) {
			return w.retryAt
		}
	}
	return time.Time{}
}

func (errs seedErrors) Error() string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (errs seedErrors) Unwrap() []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e.err
	}
	return out
}

func (e *Engine) stopWebFetches() {
	e.mu.Lock()
	ihs := make([]metainfo.Hash, 0, len(e.fetches)+len(e.hedges))
	for ih := range e.fetches {
		ihs = append(ihs, ih)
	}
	for ih := range e.hedges { // a hedge outlives its fetch for a moment
		ihs = append(ihs, ih)
	}
	e.mu.Unlock()
	for _, ih := range ihs {
		e.stopWebFetch(ih)
	}
}
