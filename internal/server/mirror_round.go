package server

// A mirror's round, every interval: sync the primary's catalog as a
// client does, serve it at once when it changed (with the archives
// already seeded), pin the key given with --key once a sync verified it,
// then fill in the archives the mirror lacks for at most an interval.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/swarm"
)

// mirrorStartFill bounds the downloads a mirror starts before it reports
// its start (dist-server mirror waits --timeout, 10 minutes by default).
const mirrorStartFill = 5 * time.Minute

// round syncs the catalog from the primary and, when it changed, serves
// it at once, with the archives seeded already; fill then brings in the
// others, each served as it comes. A failed sync keeps the catalog held;
// only a mirror that holds none fails.
//
// It served a catalog only once every archive was in: each archive with
// no source costs the engine about 8 s, and a signed catalog of 10,000
// such rows kept the mirror at its old catalog for hours, and after a
// restart at 503 (an attacker's run).
func (m *mirror) round(ctx context.Context) error {
	dir := m.opts.Paths.MirrorCatalog()
	res, syncErr := catalogclient.Sync(ctx, catalogclient.Options{
		ServerURLs: m.opts.Primary, Dir: dir, Key: m.opts.Key, KeySource: "the mirror's --key", KeepRotation: true, Logger: m.log,
	})
	// Every primary that answered is behind the catalog held, which the
	// sync keeps (catalogclient.BehindError): such a primary answers, and
	// has not failed; the mirror serves the catalog it holds on and says
	// the primary is behind (noteBehind). It counted this a failed sync,
	// every round, with "refusing a rollback" in its log, status and
	// distpac_mirror_sync_failing. A primary that failed beside them
	// (down, or refused) is a failed sync still. noCatalog is why no
	// catalog came from the sync: its error, or the primaries behind.
	behind := primariesBehind(res, syncErr)
	noCatalog := syncErr
	if len(behind) > 0 {
		errs := slices.Clone(catalogclient.ServersError(res.Failed))
		for _, b := range res.Behind {
			errs = append(errs, catalogclient.ServerError{URL: b.URL, Err: b.Err})
		}
		noCatalog = errs
		switch len(res.Failed) {
		case 0:
		case 1:
			syncErr = res.Failed[0].Err
		default:
			syncErr = catalogclient.ServersError(res.Failed)
		}
	}
	if syncErr == nil {
		m.keyRefusals.forget()
	}
	recovered := false
	switch {
	case syncErr != nil && ctx.Err() != nil:
		// Stopping (SIGTERM mid-round): not a failed sync; RunMirror
		// says "mirror stopping".
		return fmt.Errorf("mirror: %w", ctx.Err())
	case syncErr != nil && isKeyRefusal(syncErr):
		// The primaries refused for their key, each named, once and
		// then hourly; one that failed otherwise beside them (down) as
		// any failing primary: it was said only inside the refusal's
		// text.
		failed := m.failedPrimaries(res, syncErr)
		refused := slices.DeleteFunc(slices.Clone(failed), func(e catalogclient.ServerError) bool { return !isKeyRefusal(e.Err) })
		others := slices.DeleteFunc(slices.Clone(failed), func(e catalogclient.ServerError) bool { return isKeyRefusal(e.Err) })
		m.keyRefusals.note(m.log, time.Now(), refused)
		recovered = m.primaryFailures.note(m.log, time.Now(), others, answered(res))
	default:
		// Each primary's failure once, when it starts, and its recovery:
		// the sync's own warning and the round's named each failed
		// primary twice a round, and every round while it stayed down.
		recovered = m.primaryFailures.note(m.log, time.Now(), m.failedPrimaries(res, syncErr), answered(res))
	}
	switch {
	case syncErr != nil:
	case res.Updated:
		m.log.Info("catalog synced", "primary", res.Server, "serial", res.Serial, "packages", res.Packages, "valid_until", res.ValidUntil)
		if len(res.DroppedWebSeeds) > 0 {
			m.log.Warn(catalogclient.DroppedWebSeedsNote(res))
		}
	}
	m.mu.Lock()
	// The primary answers again: its tracker, which the torrents name, is
	// likely back too, and the seeder's announces there should not wait
	// out their backoff (up to 5 minutes; new clients did not find the
	// mirror meanwhile: an operator's run).
	back := syncErr == nil && !m.sync.failed.IsZero()
	switch {
	case syncErr != nil:
		m.sync.failed, m.sync.err = time.Now(), syncErr.Error()
	case len(behind) > 0: // answered, with nothing newer: synced_at stays the last catalog's
		m.sync.failed, m.sync.err = time.Time{}, ""
	default:
		m.sync.ok, m.sync.from, m.sync.failed, m.sync.err = time.Now(), res.Server, time.Time{}, ""
	}
	m.noteBehind(res, syncErr, behind, time.Now())
	m.mu.Unlock()
	if back {
		from := res.Server
		if len(behind) > 0 {
			from = behind[0].URL
		}
		// Said at Info only when no primary's recovery said it.
		level := slog.LevelInfo
		if recovered {
			level = slog.LevelDebug
		}
		m.log.Log(ctx, level, "the primary answers again; announcing the archives whose announces failed", "primary", from)
		m.engine.Reannounce()
	}
	if res.Pinned != nil && m.opts.Pinned != nil {
		m.opts.Pinned(res.Pinned, res.Server)
	}
	if noCatalog == nil && m.opts.Key != nil {
		m.pinGivenKey(dir)
	}
	if syncErr == nil {
		m.noteStaleKey(dir, res)
	}
	m.mu.Lock()
	serving := m.serial
	m.mu.Unlock()
	if serving != 0 && (noCatalog != nil || !res.Updated && res.Serial == serving) {
		// Unchanged and served (a failed sync leaves the catalog held as
		// it was): reading the catalog again (its bytes and every row)
		// cost an idle mirror 8.5 s of CPU a round for a catalog of 210 MB
		// (an attacker's run).
		return nil
	}
	held, err := catalogclient.ReadHeld(ctx, dir)
	if errors.Is(err, catalogclient.ErrNoCatalog) && noCatalog != nil {
		return fmt.Errorf("mirror: %w", noCatalog)
	}
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	m.mu.Lock()
	same := held.Meta.Serial == m.serial
	first := m.serial == 0
	m.mu.Unlock()
	if same {
		return nil
	}
	trust, err := catalogclient.LoadTrust(dir, m.opts.Key)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	// A catalog held from an earlier run is served beside the key only if
	// that key verifies it: a mirror restarted with another --key while the
	// primary could not be reached served the old catalog beside the new
	// key, and every client that trusted that key on first use then refused
	// the catalog. One a sync of this run verified needs no check.
	if first && noCatalog != nil && trust.Key != nil {
		if err := held.VerifiedBy(trust.Key); err != nil {
			from := "--key"
			if !trust.Configured {
				from = "the key pinned in " + trust.Path
			}
			return fmt.Errorf("mirror: %v (in %s), and no new one could be synced (%v): not serving it beside %s: give --key the key `dist-server key` prints on the primary, or remove %s to follow the primary afresh", err, dir, noCatalog, from, dir)
		}
	}
	if held.Meta.Expired(time.Now()) {
		m.log.Warn("the catalog held is expired and clients will refuse it: the primary has not re-signed it, or cannot be reached", "serial", held.Meta.Serial, "valid_until", held.Meta.ValidUntil)
	}
	var have []string
	m.mu.Lock()
	for _, p := range held.Packages {
		if ih, err := swarm.ParseInfoHash(p.InfoHash); err == nil {
			if _, ok := m.seeding[ih]; ok {
				have = append(have, p.Archive)
			}
		}
	}
	m.mu.Unlock()
	if trust.Key != nil {
		m.catsrv.SetKey(trust.Key)
	}
	// As the primary does: the statements first, so a client that gets a
	// catalog signed by a new key finds the one that hands over to it.
	m.catsrv.SetRotation(held.Rotation)
	m.catsrv.SetSnapshot(held.DB, held.Sig, held.Meta.Serial, have)
	m.mu.Lock()
	m.serial, m.pkgs, m.failures, m.catalogSize = held.Meta.Serial, held.Packages, len(held.Packages)-len(have), int64(len(held.DB))
	m.mu.Unlock()
	m.log.Info("serving the primary's catalog", "serial", held.Meta.Serial, "packages", len(held.Packages), "archives", len(have), "to fetch", len(held.Packages)-len(have))
	return nil
}

// failedPrimaries is each primary that failed the sync that gave res or
// syncErr: those a sync of several names (in res.Failed, or in the
// ServersError that ended it), or the one primary; URL "" for the
// failure of a sync of several that is no one primary's (their keys
// disagree on first use).
func (m *mirror) failedPrimaries(res catalogclient.Result, syncErr error) []catalogclient.ServerError {
	var se catalogclient.ServersError
	switch {
	case syncErr == nil || len(res.Behind) > 0:
		return res.Failed
	case errors.As(syncErr, &se):
		return se
	}
	u := ""
	if len(m.opts.Primary) == 1 {
		u = redact.URL(m.opts.Primary[0])
	}
	return []catalogclient.ServerError{{URL: u, Err: syncErr}}
}

// answered is each primary that answered the sync that gave res: the
// one it took the catalog from, and those behind the catalog held.
func answered(res catalogclient.Result) []string {
	var out []string
	if res.Server != "" {
		out = append(out, res.Server)
	}
	for _, b := range res.Behind {
		out = append(out, b.URL)
	}
	return out
}

// pinGivenKey pins the key given with --key once a sync verified the
// primary's catalog with it, as dist-client trust set pins one: a start
// without --key follows it then. It was not written, and such a start
// pinned whatever key the primary presented on first use (an operator's
// run: the mirror "forgot" its --key).
func (m *mirror) pinGivenKey(dir string) {
	t, err := catalogclient.LoadTrust(dir, nil)
	if err == nil && t.Key != nil && t.Key.Equal(m.opts.Key) {
		return
	}
	if err := catalogclient.Pin(dir, nil, m.opts.Key); err != nil {
		m.log.Warn("cannot pin the key given with --key; a start without --key pins the primary's on first use", "err", err)
		return
	}
	m.log.Info("pinned the key given with --key: later starts without --key follow it", "key", m.opts.Key.String(), "path", t.Path)
}

// fill brings in the archives of the catalog served that the mirror lacks
// (a new catalog's, or those a round before could not get), each served
// as it comes, for at most the mirror's interval: the downloads under way
// then finish (or stall out, stallTimeout), and the rest wait for the next
// round, so a catalog of archives that cannot be had delays the next sync
// by an interval, not by hours.
func (m *mirror) fill(ctx context.Context) {
	m.mu.Lock()
	pkgs, serial, todo, started := m.pkgs, m.serial, m.failures > 0 || m.filled != m.serial, m.filled != 0
	m.mu.Unlock()
	if !todo || serial == 0 { // a catalog of no packages still drops the withdrawn ones
		return
	}
	// Downloads start for at most an interval (a start's, at most
	// mirrorStartFill: its Ready waits for this), and those under way end
	// by the stall timeout after that, however slowly their peers drip.
	span := m.opts.Interval
	if !started {
		span = min(span, mirrorStartFill)
	}
	until := time.Now().Add(span)
	fctx, cancel := context.WithDeadline(ctx, until.Add(m.opts.stallTimeout()))
	defer cancel()
	have, failed := m.fetch(fctx, pkgs, until)
	m.mu.Lock()
	if m.serial == serial {
		m.failures, m.filled = failed, serial
	}
	m.mu.Unlock()
	if ctx.Err() == nil {
		m.log.Info("archives of the catalog", "serial", serial, "have", len(have), "missing", failed)
	}
}
