package server

import (
	"errors"
	"time"

	"github.com/distpac/distpac/internal/catalog"
)

// mirrorBackoffMax caps how long a mirror leaves an archive that failed
// its check before it downloads it again: an hour is 60 rounds at the
// default interval, and a primary that fixed its row changes the row's
// SHA-256, which the mirror tries at once (the key changes).
const mirrorBackoffMax = time.Hour

// errCorrupt: an archive downloaded in full (every piece matching the
// torrent) is not the one the catalog's row describes: its size or its
// SHA-256 differ. Downloading it again gives the same bytes.
var errCorrupt = errors.New("downloaded archive fails the catalog's check")

// corruptKey names one archive as one catalog row describes it: a row
// that changes (a new SHA-256, or a new torrent for the same bytes) is a
// new archive, tried at once.
type corruptKey struct{ archive, sha256, infoHash string }

func keyOf(p catalog.Package) corruptKey { return corruptKey{p.Archive, p.SHA256, p.InfoHash} }

// corruptEntry is the failures of one archive so far.
type corruptEntry struct {
	fails int
	next  time.Time // not downloaded again before
}

// backoff remembers the archives that failed their check at this mirror.
// An archive whose every piece matches its torrent but not the row's
// SHA-256 (a hostile or broken primary) was downloaded again in full at
// every round, forever: 12 times in 12 rounds in
// TestMirrorBacksOffCorruptArchive (4 now), a whole archive a minute at
// the default interval. Now it waits one interval after its first failure,
// doubling after each, up to mirrorBackoffMax. It holds rows of the
// catalog served only (keep), so its size is bounded by the catalog's.
// The mirror's mu guards it.
type backoff map[corruptKey]*corruptEntry

// wait is how long p is still left alone at now (0: try it).
func (b backoff) wait(p catalog.Package, now time.Time) time.Duration {
	if e, ok := b[keyOf(p)]; ok && now.Before(e.next) {
		return e.next.Sub(now)
	}
	return 0
}

// failed records that p failed its check at now, and returns how long it
// is left alone: interval, doubled with every failure before, at most
// mirrorBackoffMax.
func (b backoff) failed(p catalog.Package, now time.Time, interval time.Duration) time.Duration {
	e := b[keyOf(p)]
	if e == nil {
		e = &corruptEntry{}
		b[keyOf(p)] = e
	}
	e.fails++
	d := interval
	for i := 1; i < e.fails && d < mirrorBackoffMax; i++ {
		d *= 2
	}
	d = min(d, mirrorBackoffMax)
	e.next = now.Add(d)
	return d
}

// ok forgets p's failures: it passed its check.
func (b backoff) ok(p catalog.Package) { delete(b, keyOf(p)) }

// keep forgets every archive that is not a row of pkgs: the catalog
// withdrew it, or changed its row.
func (b backoff) keep(pkgs []catalog.Package) {
	rows := make(map[corruptKey]bool, len(pkgs))
	for _, p := range pkgs {
		rows[keyOf(p)] = true
	}
	for k := range b {
		if !rows[k] {
			delete(b, k)
		}
	}
}
