package catalogclient

import (
	"errors"
	"fmt"
	"time"

	"github.com/distpac/distpac/internal/catalog"
)

// BehindError is a server's catalog that verified, and is valid, but is
// older than the one held: a mirror that has not caught up with its
// primary yet (it syncs every minute), or a primary restored from an older
// backup. It is never installed (that would be a rollback), and it
// matches ErrRollback. Sync takes it for what it is when the catalog held
// is still valid and no server gives a newer one: it succeeds keeping the
// catalog held and lists the server in Result.Behind. A client behind a
// mirror a minute late while its primary was down had `sync` fail
// ("refusing a rollback"), and a cron `sync && upgrade` stop, with nothing
// wrong (a newcomer's run).
//
// A server whose catalog is past its valid_until as well (Stale) is
// behind too, and stale: a mirror that stopped following its primary
// (a primary re-signs its catalog, and a mirror that follows it serves
// each one), or a copy no one updates. The catalog held is newer and
// valid, so it is kept just the same; the expired one is never installed,
// as no older one is. A client whose primary was down and whose mirror
// had stopped following it a week before had its sync fail ("catalog
// from URL expired 2d ago") while it held a valid catalog.
//
// The lag is no excuse when the catalog held is past its valid_until:
// then the error matches ErrExpired too, and the sync fails, as it does
// when a server answers 304 for an expired catalog. Nor when no catalog
// is held, only its serial (sync.json): then there is nothing to keep.
type BehindError struct {
	Source string // the URL of the catalog the server gave
	Serial int64  // that catalog's serial
	Floor  int64  // the serial held (or remembered in sync.json)
	// ValidUntil is that catalog's valid_until; Stale, that it is past
	// it at Now.
	ValidUntil time.Time
	Stale      bool
	// Held is the catalog held, when one is (Present): its Meta and how
	// many package versions it has.
	Present  bool
	Held     catalog.Meta
	Packages int
	Now      time.Time
}

// expired reports whether the catalog held is past its valid_until.
func (e *BehindError) expired() bool { return e.Present && e.Held.Expired(e.Now) }

// Usable reports whether the catalog held may be kept as up to date
// despite the server being behind: one is held, and it is valid.
func (e *BehindError) Usable() bool { return e.Present && !e.expired() }

func (e *BehindError) Error() string {
	if e.expired() {
		return fmt.Sprintf("%s: catalog serial %d is older than the one held, which expired %s ago (serial %d, made %s, valid until %s): this server is behind; a newer catalog must come from the publisher or a mirror that has caught up",
			e.Source, e.Serial, Age(e.Now.Sub(e.Held.ValidUntil)), e.Held.Serial, stamp(e.Held.Created), stamp(e.Held.ValidUntil))
	}
	if e.Stale {
		return fmt.Sprintf("%s: catalog serial %d is older than the one held (%d) and expired %s ago (valid until %s): %v",
			e.Source, e.Serial, e.Floor, Age(e.Now.Sub(e.ValidUntil)), stamp(e.ValidUntil), ErrRollback)
	}
	return fmt.Sprintf("%s: catalog serial %d is older than the one held (%d): %v (%s)", e.Source, e.Serial, e.Floor, ErrRollback, behindCauses(e.Floor))
}

// behindCauses says why a valid catalog is older than the serial held:
// a mirror that has not caught up, or a publisher restored from a backup
// with its clock behind, which it tells how to publish past that serial.
func behindCauses(held int64) string {
	return fmt.Sprintf("a mirror that has not caught up yet, or a publisher restored from a backup while its clock is behind: there, 'dist-server republish --past %d' publishes past it", held)
}

// Is makes errors.Is(err, ErrRollback) hold, and errors.Is(err,
// ErrExpired) when the catalog held is expired.
func (e *BehindError) Is(target error) bool {
	return target == ErrRollback || target == ErrExpired && e.expired()
}

// Behind is a server that gave a valid catalog older than the one held
// (a BehindError): not taken, and not counted as failed.
type Behind struct {
	URL    string // masked (redact.URL)
	Serial int64  // the serial it serves
	Held   int64  // the serial held, which it is below
	// ValidUntil is that catalog's valid_until. Stale: it had passed at
	// the sync (at), as it does at a mirror that no longer follows its
	// primary, which re-signs its catalog (BehindError.Stale).
	ValidUntil time.Time
	Stale      bool
	at         time.Time
	Err        error // its *BehindError (matches ErrRollback), for callers that count it a failure
}

// Note says what a sync says of the server: it only lags, or it lags
// and its catalog has expired (Stale).
func (b Behind) Note() string {
	if b.Stale {
		return fmt.Sprintf("%s serves an older catalog (serial %d) that expired %s ago: it has not caught up and is no longer re-signed (a mirror that stopped following its primary?)",
			b.URL, b.Serial, Age(b.at.Sub(b.ValidUntil)))
	}
	if b.Held == 0 {
		return fmt.Sprintf("%s serves an older catalog (serial %d): it has not caught up yet", b.URL, b.Serial)
	}
	return fmt.Sprintf("%s serves an older catalog (serial %d; serial %d held): %s", b.URL, b.Serial, b.Held, behindCauses(b.Held))
}

// behindOf is err's *BehindError when the catalog held may be kept
// despite it (BehindError.Usable), else nil.
func behindOf(err error) *BehindError {
	var b *BehindError
	if errors.As(err, &b) && b.Usable() {
		return b
	}
	return nil
}
