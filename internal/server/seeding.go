package server

// What the server seeds: the packages of the catalog it serves, each
// archive verified before it is seeded and served, and dropped when it is
// withdrawn or found damaged.

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
)

// checkedHook, when set, is called after syncSeeds checked each archive,
// with how many of how many it has: a test holds a start there.
var checkedHook func(done, of int)

// syncSeeds seeds every package in the catalog and drops withdrawn ones.
// Archives are verified piece by piece before seeding: the library trusts a
// full-size file otherwise.
func (r *runner) syncSeeds(ctx context.Context, pkgs []catalog.Package) (failed int) {
	want := map[swarm.InfoHash]catalog.Package{}
	for _, p := range pkgs {
		if ih, err := swarm.ParseInfoHash(p.InfoHash); err == nil {
			want[ih] = p
		}
	}
	r.mu.Lock()
	var drop []swarm.InfoHash
	for ih := range r.seeding {
		if _, ok := want[ih]; !ok {
			drop = append(drop, ih)
		}
	}
	for ih := range r.unseedable {
		if _, ok := want[ih]; !ok {
			delete(r.unseedable, ih)
		}
	}
	r.mu.Unlock()
	for _, ih := range drop {
		r.engine.Drop(ih)
		r.unseed(ih)
	}
	self := r.self()
	r.mu.Lock()
	r.checked.done, r.checked.of = 0, len(want)
	r.mu.Unlock()
	for ih, p := range want {
		r.mu.Lock()
		_, have := r.seeding[ih]
		r.mu.Unlock()
		switch {
		case have:
			if r.tracker != nil {
				r.tracker.AddPeer(ih, self, true) // pinned again, whatever announces did
			}
		case !r.seed(ctx, ih, p):
			failed++
		}
		r.mu.Lock()
		r.checked.done++
		done := r.checked.done
		r.mu.Unlock()
		if checkedHook != nil {
			checkedHook(done, len(want))
		}
	}
	return failed
}

// seed seeds one package of the catalog, verified, and serves its archive
// on the web seed, or withholds it there if its bytes are not the
// torrent's. One that failed is tried again only once its file changed: a
// damaged archive of 10 GiB was hashed whole every seedRetry, and logged
// each time, until someone repaired it (a review).
func (r *runner) seed(ctx context.Context, ih swarm.InfoHash, p catalog.Package) bool {
	path := filepath.Join(r.engine.Dir(), p.Archive)
	now, _ := os.Stat(path)
	r.mu.Lock()
	was, failedBefore := r.unseedable[ih]
	r.mu.Unlock()
	if failedBefore && swarm.Unchanged(was, now) {
		return false
	}
	if _, err := r.engine.Seed(ctx, p.Torrent, true); err != nil {
		r.errors.WithLabelValues("seeder").Inc()
		r.log.Error("cannot seed package", "package", p.ID(), "archive", path, "err", err)
		if !swarm.IsDamaged(err) {
			now = nil // an error reading it (or none there): tried again once it is
		} else if r.catsrv != nil {
			r.catsrv.Withhold(p.Archive) // nor over HTTP, where every client's check would fail it
		}
		r.mu.Lock()
		r.unseedable[ih] = now
		r.mu.Unlock()
		return false
	}
	if r.catsrv != nil {
		r.catsrv.Serve(p.Archive)
	}
	if failedBefore {
		r.log.Info("package seeded again", "package", p.ID(), "archive", path)
	}
	if r.tracker != nil {
		r.tracker.AddPeer(ih, r.self(), true)
	}
	r.mu.Lock()
	r.seeding[ih] = p.Archive
	delete(r.unseedable, ih)
	r.mu.Unlock()
	return true
}

// self is the seeder's address as the tracker lists it.
func (r *runner) self() netip.AddrPort {
	return netip.AddrPortFrom(r.selfIP, uint16(r.engine.Port()))
}

// unseed forgets a torrent the engine no longer seeds: in the tracker, and
// in what status counts.
func (r *runner) unseed(ih swarm.InfoHash) {
	if r.tracker != nil {
		r.tracker.RemovePeer(ih, r.self())
	}
	r.mu.Lock()
	delete(r.seeding, ih)
	r.mu.Unlock()
}

// dropDamaged forgets the archives the engine stopped seeding because they
// changed on disk since they were verified and no longer match their
// torrents, or are gone (swarm.RecheckLoop), and withholds the damaged ones
// from the web seed: an archive overwritten in place went on being sent to
// every client until the server restarted. reload seeds and serves each
// again, verified, once repaired: counted as a failure to seed, it is
// tried at the next tick and every seedRetry after (once its file
// changed).
func (r *runner) dropDamaged(damaged []swarm.Damaged) {
	for _, d := range damaged {
		r.errors.WithLabelValues("seeder").Inc()
		r.unseed(d.InfoHash)
		if d.Gone { // the engine says so at Info, a client's cache being the user's to clean
			r.log.Warn("a published package's archive was removed from disk: no longer seeding it (put it back, or withdraw the package with dist-server remove)",
				"archive", d.Name)
		}
		if r.catsrv != nil && !d.Gone {
			r.catsrv.Withhold(d.Name)
		}
	}
	r.mu.Lock()
	r.seedFailures += len(damaged)
	r.lastReload = time.Time{}
	r.mu.Unlock()
}

// inCatalog reports whether ih is a package of the current catalog. While
// the server starts, until the first reload says what is served, it waits
// for that (at most servedWait): the tracker listens from the start, and
// an announce in that window (a re-signing, a restored catalog.db checked
// in full) was refused with "torrent is not served by this tracker", a
// failure reason after which announcers back off 5 s and more (an
// operator's run: a mirror restarted beside a restored primary). One
// that waited in vain is answered with no peers and a short interval
// (tracker.Options.Known: servedIsKnown).
//
// A wait that ran out holds off the waits that begin within servedWait
// of its end: a scrape asks for each of its info_hashes in turn, and one
// of MaxScrapeHashes waited 2 s for each (a helper's read), where its
// first wait said all there was to know.
func (r *runner) inCatalog(ih [20]byte) bool {
	m := r.served.Load()
	if m == nil && r.servedKnown != nil && time.Since(time.Unix(0, r.servedWaitEnded.Load())) >= servedWait {
		t := time.NewTimer(servedWait)
		select {
		case <-r.servedKnown:
		case <-t.C:
			r.servedWaitEnded.Store(time.Now().UnixNano())
		}
		t.Stop()
		m = r.served.Load()
	}
	if m == nil {
		return false
	}
	_, ok := (*m)[ih]
	return ok
}

// servedIsKnown reports whether the first reload has said what is served
// (or the start went on without it): until then the tracker answers what
// inCatalog does not find with no peers and a short interval, not with a
// refusal.
func (r *runner) servedIsKnown() bool {
	if r.servedKnown == nil {
		return true // a runner that never waits (inCatalog)
	}
	select {
	case <-r.servedKnown:
		return true
	default:
		return false
	}
}

// servedWait bounds an announce's wait for a starting server's first
// reload; past it, the announce is answered with no peers, to come back
// in tracker.StartingInterval. It was 10 s, then refused: distpac's own
// announcer waits 5 s for a reply's headers (trackerclient), so it saw a
// timeout (and backed off) where a start took over 5 s. 2 s keeps the
// reply well inside those 5 s, and an announce to a start whose first
// reload ends within it still gets the catalog's answer.
const servedWait = 2 * time.Second

// markServedKnown ends the waits of inCatalog: the first reload set
// served, or the start went on (or failed) without.
func (r *runner) markServedKnown() {
	r.servedKnownOnce.Do(func() {
		if r.servedKnown != nil {
			close(r.servedKnown)
		}
	})
}

// firstReloadHook, when set (by a test), runs just before a server's first
// reload, while its tracker already listens.
var firstReloadHook func()
