package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/swarm"
)

// reload brings the served snapshot and the seeded set in line with the
// working catalog when its serial changed: meta is the working catalog's
// meta row as renew leaves it, read once a poll for both.
func (r *runner) reload(ctx context.Context, first bool, meta catalog.Meta) error {
	r.mu.Lock()
	// Packages that could not be seeded are tried again every 30 s (their
	// archive may be being repaired), without a new publication.
	retry := r.seedFailures > 0 && time.Since(r.lastReload) >= seedRetry
	// A catalog.db replaced by another file is looked at whatever its
	// serial, until pairToServe has dealt with it: one refused, replaced
	// by a good copy of the serial served, left status saying "unsigned"
	// until the next publication.
	reopened := r.reopened
	same := !first && meta.Serial == r.serial && !retry && !reopened
	servedNow := r.serial
	r.mu.Unlock()
	if same {
		return nil
	}
	snap, ok, err := r.pairToServe(ctx, first, reopened, retry, servedNow)
	if err != nil || !ok {
		return err
	}
	// The packages of the catalog served, not of the working catalog: an
	// add that committed since would otherwise put its packages in the
	// tracker's allowed set and the seeded set, and take a removed one's
	// archive off the web seed, while clients still get the older catalog.
	pkgs := snap.Packages
	served := make(map[[20]byte]struct{}, len(pkgs))
	names := make(map[swarm.InfoHash]string, len(pkgs))
	for _, p := range pkgs {
		if ih, err := swarm.ParseInfoHash(p.InfoHash); err == nil {
			served[ih] = struct{}{}
			names[ih] = p.ID()
		}
	}
	r.served.Store(&served)
	r.markServedKnown()
	if !r.peersRestored {
		// Before the seeding below, which verifies every archive at
		// start: a newcomer meanwhile finds the clients that hold it.
		r.restorePeers()
	}
	// An add writes the whitelist itself; this covers a whitelist set in
	// server.yaml after the last publication, and an add that died before.
	if _, err := r.pub.RewriteWhitelist(ctx); err != nil {
		r.log.Error("cannot write the tracker whitelist; an external tracker will refuse new packages", "err", err)
	}
	r.mu.Lock()
	r.names = names
	r.mu.Unlock()
	// Seed first, then serve: a client that sees a package in the catalog
	// finds a seeder for it.
	failed := 0
	if r.engine != nil {
		failed = r.syncSeeds(ctx, pkgs)
	}
	if r.catsrv != nil {
		archives := make([]string, len(pkgs))
		for i, p := range pkgs {
			archives[i] = p.Archive
		}
		// The chain first: a client that gets a catalog signed by a new
		// key finds the statement that hands over to it.
		r.catsrv.SetRotation(snap.Rotation)
		r.catsrv.SetSnapshot(snap.DB, snap.Sig, snap.Serial, archives)
	}
	r.mu.Lock()
	r.serial, r.packages, r.seedFailures = snap.Serial, len(pkgs), failed
	r.lastReload = time.Now()
	r.mu.Unlock()
	r.log.Info("catalog loaded", "serial", snap.Serial, "packages", len(pkgs), "valid_until", snap.Meta.ValidUntil)
	return nil
}

// pairToServe decides which published pair (catalog and signature) to
// serve, publishing the working catalog first when it can: ok is false
// when the pair served stays as it is. In turn:
//
//   - a working catalog whose publication was refused, unchanged since
//     (or a catalog.db that cannot be opened), is not looked at again:
//     the pair served is read again only to retry the seeding (retry),
//     the packages served that failed to seed being tried again;
//   - a catalog.db that is not the file published (adopt: replaced while
//     the server ran, or changed while it was stopped) is published
//     through Publisher.Adopt, checked in full and under a serial above
//     the one published, or refused;
//   - the pair published at the working catalog's serial is served when
//     it verifies; else the publication is repaired (Publisher.Repair: an
//     add may be between its commit and its publication, or died there).
//
// A refusal (refusal) keeps the pair served, logged once and shown in
// status; at start, with none served yet, the last pair signed is served
// (AnySerial). A publication that succeeds clears the refusal.
func (r *runner) pairToServe(ctx context.Context, first, adopt, retry bool, served int64) (publish.Snapshot, bool, error) {
	dir := r.opts.Paths.PublicDir()
	// A catalog.db replaced by a file that cannot be opened (reopen logged
	// it) has nothing to publish either, until it changes: trying made a
	// failed reload a poll, each logged.
	if !first && (r.reopenFailed != nil || r.stillRefused()) {
		// Nothing new can be published (reopen marks a file that comes
		// back), but the packages of the catalog served that failed to
		// seed are tried again (a review: they were not while a
		// publication was refused).
		r.setReopened(false)
		if !retry {
			return publish.Snapshot{}, false, nil
		}
		snap, err := publish.ReadPublished(ctx, dir, r.key.Public(), served)
		return snap, err == nil, err
	}
	// `dist-server key rotate` may have replaced the key with this serial.
	if err := r.reloadKey(); err != nil {
		return publish.Snapshot{}, false, err
	}
	stamp, _ := r.db.Stamp()
	if adopt {
		// At the serial published, the pair signed before would be served
		// as the new file's, checked or not. The file is dealt with once
		// it is published or refused; another failure (signing.key being
		// restored, a full disk) leaves it marked for the next poll: at
		// the serial served nothing else would bring it back.
		err := r.pub.Adopt(ctx)
		if err == nil || refusal(err) {
			r.setReopened(false)
		}
		if err != nil {
			return r.keepServed(ctx, first, stamp, err, served)
		}
	}
	meta, err := r.db.Meta(ctx)
	if err != nil {
		return publish.Snapshot{}, false, err
	}
	snap, err := publish.ReadPublished(ctx, dir, r.key.Public(), meta.Serial)
	if err != nil {
		// An add may be between its commit and its publication: wait for
		// it through the publish lock, then repair if it died half-way.
		stamp, _ = r.db.Stamp()
		if err := r.pub.Repair(ctx); err != nil {
			return r.keepServed(ctx, first, stamp, err, served)
		}
		if meta, err = r.db.Meta(ctx); err != nil {
			return publish.Snapshot{}, false, err
		}
		if err := r.reloadKey(); err != nil {
			return publish.Snapshot{}, false, err
		}
		if snap, err = publish.ReadPublished(ctx, dir, r.key.Public(), meta.Serial); err != nil {
			return publish.Snapshot{}, false, fmt.Errorf("published catalog: %w", err)
		}
	}
	r.refusedErr = nil
	r.mu.Lock()
	r.unsignedSince, r.unsignedErr = time.Time{}, ""
	r.mu.Unlock()
	return snap, true, nil
}

// setReopened marks the working catalog as a file to adopt (reopen), or
// as dealt with.
func (r *runner) setReopened(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reopened = v
}

// keepServed is pairToServe after the publisher failed with err, the working
// catalog stamped as before the attempt: a refusal (refusal) is recorded
// and the pair served stays served; at start, the last pair signed is
// served.
func (r *runner) keepServed(ctx context.Context, first bool, stamp catalog.Stamp, err error, served int64) (publish.Snapshot, bool, error) {
	if !refusal(err) {
		return publish.Snapshot{}, false, err
	}
	if !first {
		r.refuse(stamp, err, served)
		return publish.Snapshot{}, false, nil
	}
	// A start with a working catalog that cannot be signed serves the
	// last pair signed, as a running server keeps serving it, and as an
	// apt repository whose export failed keeps its last Release files:
	// clients go on syncing it (until its valid_until) and the published
	// packages go on being seeded, where refusing to start would take both
	// away and fix nothing. The refusal is logged; a start with no pair at
	// all fails with it.
	snap, rerr := publish.ReadPublished(ctx, r.opts.Paths.PublicDir(), r.key.Public(), publish.AnySerial)
	if rerr != nil {
		return publish.Snapshot{}, false, fmt.Errorf("%w (and no catalog signed before to serve: %v)", err, rerr)
	}
	r.refuse(stamp, err, snap.Serial)
	return snap, true, nil
}

// reopen opens the working catalog again when its path names another
// file than the one the server opened (catalog.DB.Replaced): an operator
// who restores a backup by rename (cp backup.db x.db && mv x.db
// catalog.db) replaced the file under the open connection, which went on
// reading the old one: the server served its serial and never the
// restored catalog, until restarted. The new file is then checked in
// full (the seal being the old file's) and published under a serial above
// the one served, or refused as a hand edit is, the pair signed before
// staying served (reload, through Publisher.Adopt).
// A file that cannot be opened leaves the old one in use, logged once
// until it changes.
func (r *runner) reopen(ctx context.Context) {
	fi, gone := r.catalogGone(ctx)
	if gone {
		return
	}
	replaced := r.db.Replaced(fi)
	if !replaced && r.reopenFailed != nil {
		// The file opened is back (a hard link kept of it): looked at
		// once, which clears the status the unopenable one set, or
		// says why it cannot be signed (a review: status went on
		// saying "unsigned").
		r.reopenFailed, r.reopened = nil, true
	}
	if !replaced || r.reopenFailed != nil && swarm.Unchanged(r.reopenFailed, fi) {
		return
	}
	db, err := catalog.Open(ctx, r.opts.Paths.Catalog(), catalog.ValidFor(r.validFor))
	if err != nil {
		if ctx.Err() == nil {
			r.reopenFailed = fi
			r.unsigned(err)
			r.errors.WithLabelValues("reload").Inc()
			r.log.Error("catalog.db was replaced by a file that cannot be opened; still serving the catalog before it", "err", err)
		}
		return
	}
	r.reopenFailed = nil
	r.db.Close()
	r.db, r.reopened = db, true
	r.log.Warn("catalog.db was replaced by another file; reading that one from now on", "path", db.Path())
}

// catalogGone reports whether catalog.db is gone, empty or not a regular
// file: the server goes on with the file it opened, says so once in the
// log and in status (it said nothing, and Replaced sees no replacement
// there: an attacker's run), and looks at the catalog again once a file
// is back. Otherwise it gives the file's os.Stat, the one stat of the
// path a poll makes (reopen asks Replaced with it).
func (r *runner) catalogGone(ctx context.Context) (os.FileInfo, bool) {
	path := r.opts.Paths.Catalog()
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		if r.gone {
			r.gone, r.reopened = false, true
		}
		return fi, false
	}
	if r.gone || ctx.Err() != nil {
		return nil, true
	}
	r.gone = true
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err = r.pub.Lost(ctx); err == nil {
			err = fmt.Errorf("%s is gone", path)
		}
	case err == nil && !fi.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	case err == nil:
		err = fmt.Errorf("%s is empty", path)
	}
	r.unsigned(err)
	r.errors.WithLabelValues("reload").Inc()
	r.log.Error("catalog.db is gone or is no catalog; still serving the catalog of the file opened before", "err", err)
	return nil, true
}

// reloadKey reads the signing key again: a key rotation replaces it while
// the server runs.
func (r *runner) reloadKey() error {
	k, err := signing.Load(r.opts.Paths.SigningKey())
	if err != nil {
		return err
	}
	if !k.Public().Equal(r.key.Public()) {
		r.log.Info("signing key replaced (dist-server key rotate or key new)", "old", r.key.Public().Fingerprint(), "new", k.Public().Fingerprint())
		r.key = k
		if r.catsrv != nil {
			r.catsrv.SetKey(k.Public())
		}
	}
	return nil
}

// servedSerial is the serial of the catalog served.
func (r *runner) servedSerial() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serial
}

// stillRefused reports whether the working catalog is as it was when its
// publication was last refused: a server does not check it again, nor
// log the refusal again, every poll.
func (r *runner) stillRefused() bool {
	if r.refusedErr == nil {
		return false
	}
	st, err := r.db.Stamp()
	return err == nil && st == r.refused
}

// refuse records a publication refused because clients would refuse the
// catalog (catalog.ErrUnpublishable), for the working catalog as stamped
// before the attempt, and says so in the log.
func (r *runner) refuse(stamp catalog.Stamp, err error, served int64) {
	r.refused, r.refusedErr = stamp, err
	r.unsigned(err)
	r.errors.WithLabelValues("publish").Inc()
	msg := "catalog.db not signed: every client would refuse it; serving the catalog signed before until it is fixed (or the row withdrawn with dist-server remove)"
	if errors.Is(err, publish.ErrCatalogLost) {
		msg = "catalog.db not signed: it is gone, or was made anew, while a catalog is published; serving the catalog signed before until it is restored"
	}
	r.log.Error(msg, "served_serial", served, "err", err)
}

// refusal reports whether err is the publisher declining to sign the
// working catalog (the pair signed before stays served, the refusal
// logged once and shown in status) rather than failing: a catalog clients
// would refuse, or one made anew while a catalog is published (which was
// logged at every poll: an attacker's run).
func refusal(err error) bool {
	return errors.Is(err, catalog.ErrUnpublishable) || errors.Is(err, publish.ErrCatalogLost)
}

// unsigned records, for status, why the working catalog is not signed.
func (r *runner) unsigned(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unsignedSince.IsZero() {
		r.unsignedSince = time.Now()
	}
	r.unsignedErr = err.Error()
}

// renew re-signs the catalog before it expires (see publish.RenewDue),
// without a restart; reload then serves the new serial. It returns the
// working catalog's meta row for reload: the check is one read of it,
// which reload takes rather than reading the serial again (each poll read
// it twice). The publish lock is taken only when due, and the row is then
// read again, as the serial moves under a renewal (and under one that
// failed after its commit, which reload repairs). A catalog.db that cannot
// be opened (reopen) cannot be re-signed: that was said once, not at every
// poll.
//
// A failure to re-sign is tried again every poll, and logged at most once
// every resignLogEvery (renewFailures), each counted in
// distpac_errors_total{component="publish"}.
func (r *runner) renew(ctx context.Context) (catalog.Meta, error) {
	meta, err := r.db.Meta(ctx)
	if err != nil {
		return meta, err
	}
	if !publish.RenewDue(meta, r.validFor, time.Now()) {
		// Signed since by other means (an add, dist-server republish): a
		// later failure is a new run, logged at once.
		r.renewFailures.ended()
		r.setResign(resignFailing{})
		return meta, nil
	}
	if r.reopenFailed != nil || r.gone || r.stillRefused() {
		return meta, nil
	}
	stamp, _ := r.db.Stamp()
	m, renewed, err := r.pub.Renew(ctx)
	switch {
	case refusal(err):
		r.refuse(stamp, err, r.servedSerial())
	case err != nil:
		if ctx.Err() == nil {
			r.errors.WithLabelValues("publish").Inc()
			if logIt, attrs := r.renewFailures.failed(time.Now()); logIt {
				r.log.Error("re-signing the catalog before it expires failed; will retry", append([]any{"valid_until", meta.ValidUntil, "err", err}, attrs...)...)
			}
			r.setResign(resignFailing{since: r.renewFailures.since, err: err.Error(), validUntil: meta.ValidUntil})
		}
	case renewed:
		r.log.Info("catalog re-signed before it expires", append([]any{"serial", m.Serial, "valid_until", m.ValidUntil}, r.renewFailures.ended()...)...)
		r.setResign(resignFailing{})
	}
	return r.db.Meta(ctx)
}

// resignFailing is a run of failed re-signings, as status shows it.
type resignFailing struct {
	since, validUntil time.Time
	err               string
}

// setResign sets what status says of re-signing.
func (r *runner) setResign(f resignFailing) {
	r.mu.Lock()
	r.resign = f
	r.mu.Unlock()
}
