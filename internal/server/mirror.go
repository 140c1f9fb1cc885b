package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/redact"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/swarm"
)

// dist-server mirror follows a primary server: it syncs the primary's
// signed catalog exactly as a client does (catalogclient: the signature
// against the pinned key, key rotations, the serial never going back, the
// expiry), downloads every archive over BitTorrent and checks its SHA-256,
// seeds them, and serves the same catalog pair, rotation statements and
// archives (a web seed) over HTTP. It cannot change the signed torrents,
// so clients find its seeder through the trackers the torrents name: it
// announces there like any peer (the primary's tracker allows the
// catalog's packages). Its catalog is the primary's, byte for byte, so
// clients list it in server_urls beside the primary.

// MirrorOptions configure RunMirror.
type MirrorOptions struct {
	Paths paths.Server
	// Config gives the addresses (database_addr, peer_addr, metrics_addr)
	// and upload_rate_limit; the publishing keys do not apply.
	Config *config.Server
	// ConfigPath is the file Config was read from, named when an address
	// is in use.
	ConfigPath string
	// Primary lists the servers to follow, tried in order (the primary,
	// or other mirrors of it), whole: a user and password in one are sent
	// to it, and shown masked everywhere (Info.MirrorOf, the logs).
	Primary []string
	// Key is the primary's public key; nil pins the key of the first sync
	// (trust on first use, told to Pinned) in the mirror's catalog folder.
	Key signing.PublicKey
	// Interval is how often the catalog is synced again and failed
	// downloads retried; 0 means DefaultMirrorInterval.
	Interval time.Duration
	Logger   *slog.Logger
	// Ready is called once the mirror serves a catalog.
	Ready func(Info)
	// Pinned is called when a sync pinned the primary's key on first use,
	// with the URL of the primary that presented it (its password
	// masked): the one place that says so.
	Pinned func(key signing.PublicKey, from string)
	// StallTimeout is how long an archive's download may move less than
	// stall.MinRate (0: mirrorStall).
	StallTimeout time.Duration
}

// stallTimeout is o's StallTimeout, or mirrorStall.
func (o *MirrorOptions) stallTimeout() time.Duration {
	if o.StallTimeout > 0 {
		return o.StallTimeout
	}
	return mirrorStall
}

// DefaultMirrorInterval is how often a mirror syncs: one conditional GET
// (304 when nothing changed) a minute keeps it within a minute of the
// primary, and far inside the half of catalog_valid_for after which the
// primary re-signs.
const DefaultMirrorInterval = time.Minute

// mirrorDownloads bounds the archives a mirror fetches at once.
const mirrorDownloads = 8

// mirrorStall is how long one archive's download may go without progress
// (stall.MinRate over that time) before the mirror gives it up until the
// next round: a download beside peers that keep their connections open
// and send nothing had no end (the engine gives up only when there is no
// source at all). MirrorOptions.StallTimeout changes it.
const mirrorStall = 2 * time.Minute

// mirrorStartFill bounds the downloads a mirror starts before it reports
// its start (dist-server mirror waits --timeout, 10 minutes by default).
const mirrorStartFill = 5 * time.Minute

type mirror struct {
	opts   MirrorOptions
	log    *slog.Logger
	engine *swarm.Engine
	catsrv *catalogserver.Server

	mu       sync.Mutex
	serial   int64                              // catalog served; guarded by mu
	seeding  map[swarm.InfoHash]catalog.Package // verified archives seeded; guarded by mu
	failures int                                // archives of the catalog not yet had; guarded by mu
	pkgs     []catalog.Package                  // the catalog served; guarded by mu
	// catalogSize is the size of the catalog served, kept free twice
	// beside the archives (diskRoom); guarded by mu.
	catalogSize int64
	filled      int64   // the serial whose archives fill last went over; guarded by mu
	corrupt     backoff // archives that failed their check; guarded by mu
	info        Info    // its Filling guarded by mu, the rest set before status is served
	// sync is the outcome of the last syncs, for status; guarded by mu.
	sync struct {
		ok, failed time.Time
		from, err  string
	}
}

// RunMirror runs dist-server mirror until ctx ends. It fails at start
// when the first sync fails and no catalog is held from an earlier run.
func RunMirror(ctx context.Context, opts MirrorOptions) (err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultMirrorInterval
	}
	if len(opts.Primary) == 0 {
		return errors.New("mirror: no primary server given")
	}
	swarm.RouteLibraryLogs(opts.Logger)
	p := opts.Paths
	runLock, err := lockRun(p)
	if err != nil {
		return err
	}
	defer runLock.Unlock()
	// Registered first: runs once everything else is closed.
	defer func(started time.Time) { logStopped(opts.Logger, "mirror", started, err) }(time.Now())
	lns, err := listenAll(opts.Config, opts.ConfigPath, listenWants{seeder: true, catalog: true})
	if err != nil {
		return err
	}
	defer lns.close()
	for _, d := range []string{p.MirrorCatalog(), p.MirrorArchives()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
	}
	m := &mirror{opts: opts, log: opts.Logger, seeding: map[swarm.InfoHash]catalog.Package{}, corrupt: backoff{}}
	m.info = Info{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Listen: map[string]string{}, MirrorOf: redact.URLs(opts.Primary)} // server.json is world-readable

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &httpGroup{log: m.log}
	defer g.shutdown()
	// The engine announces to the torrents' trackers: that is how clients
	// find this seeder.
	up := uplink(opts.Config)
	sc := seederConfig(opts.Config, p.MirrorArchives(), false, up, m.log)
	sc.Mirror = true // its pieces from the last one down, the primary's from the first up
	if m.engine, err = swarm.New(sc); err != nil {
		return config.InUse("peer_addr", false, err)
	}
	defer m.engine.Close()
	m.info.Peer = m.engine.Addr().String()
	m.info.Listen["seeder"] = m.engine.Addr().String()

	reg := prometheus.NewRegistry()
	reg.MustRegister(g.connCollector())
	m.registerMetrics(reg)
	m.catsrv = catalogserver.New(catalogserver.Options{ArchivesDir: p.MirrorArchives(), Registry: reg, Logger: m.log, NoMetrics: opts.Config.MetricsAddr != "", UploadLimiter: up})
	g.serveCatalog(lns, m.catsrv, &m.info)

	// The last sync that succeeded, from an earlier run: status shows how
	// old the catalog held is when the first sync of this run fails.
	if st, err := catalogclient.ReadStatus(ctx, p.MirrorCatalog(), time.Now()); err == nil {
		m.sync.ok, m.sync.from = st.SyncedAt, st.ServerURL
	}
	if err := m.round(ctx); err != nil {
		return err
	}
	// The catalog is served from here on, and status answers (server.json
	// says Filling); the start is reported once the archives are in, or
	// one interval of downloads has been tried.
	m.info.Filling = true
	if err := g.control(&m.info, m.status); err != nil {
		return err
	}
	defer os.Remove(p.PIDFile())
	if err := writeInfo(p, m.info); err != nil {
		return err
	}
	m.fill(ctx)
	m.mu.Lock()
	m.info.Filling = false
	info := m.info
	m.mu.Unlock()
	if err := writeInfo(p, info); err != nil {
		return err
	}
	if opts.Ready != nil {
		opts.Ready(info)
	}
	m.log.Info("mirror ready", "primary", strings.Join(m.info.MirrorOf, " "), "database", m.info.Database, "peer", m.info.Peer)

	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	var rechecks sync.WaitGroup
	defer rechecks.Wait() // before the engine closes
	rctx, stopRechecks := context.WithCancel(ctx)
	defer stopRechecks()
	rechecks.Go(func() { m.engine.RecheckLoop(rctx, recheckEvery, m.dropDamaged) })
	for {
		select {
		case <-ctx.Done():
			m.log.Info("mirror stopping")
			return nil
		case <-tick.C:
			if err := m.round(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("mirror round failed; serving the previous catalog", "err", err)
			}
			m.fill(ctx)
		}
	}
}

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
	switch {
	case syncErr != nil && ctx.Err() != nil:
		// Stopping (SIGTERM mid-round): not a failed sync; RunMirror
		// says "mirror stopping".
		return fmt.Errorf("mirror: %w", ctx.Err())
	case syncErr != nil:
		m.log.Warn("sync from the primary failed", "err", syncErr)
	case res.Updated:
		m.log.Info("catalog synced", "from", res.Server, "serial", res.Serial, "packages", res.Packages, "valid_until", res.ValidUntil)
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
	if syncErr != nil {
		m.sync.failed, m.sync.err = time.Now(), syncErr.Error()
	} else {
		m.sync.ok, m.sync.from, m.sync.failed, m.sync.err = time.Now(), res.Server, time.Time{}, ""
	}
	m.mu.Unlock()
	if back {
		m.log.Info("the primary answers again; announcing the archives whose announces failed", "from", res.Server)
		m.engine.Reannounce()
	}
	if res.Pinned != nil && m.opts.Pinned != nil {
		m.opts.Pinned(res.Pinned, res.Server)
	}
	if syncErr == nil && m.opts.Key != nil {
		m.pinGivenKey(dir)
	}
	m.mu.Lock()
	serving := m.serial
	m.mu.Unlock()
	if serving != 0 && (syncErr != nil || !res.Updated && res.Serial == serving) {
		// Unchanged and served (a failed sync leaves the catalog held as
		// it was): reading the catalog again (its bytes and every row)
		// cost an idle mirror 8.5 s of CPU a round for a catalog of 210 MB
		// (an attacker's run).
		return nil
	}
	held, err := catalogclient.ReadHeld(ctx, dir)
	if errors.Is(err, catalogclient.ErrNoCatalog) && syncErr != nil {
		return fmt.Errorf("mirror: %w", syncErr)
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
	if first && syncErr != nil && trust.Key != nil {
		if err := held.VerifiedBy(trust.Key); err != nil {
			from := "--key"
			if !trust.Configured {
				from = "the key pinned in " + trust.Path
			}
			return fmt.Errorf("mirror: %v (in %s), and no new one could be synced (%v): not serving it beside %s: give --key the key `dist-server key` prints on the primary, or remove %s to follow the primary afresh", err, dir, syncErr, from, dir)
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

func (m *mirror) status() Status {
	m.mu.Lock()
	st := Status{Info: m.info, Serial: m.serial, Packages: len(m.pkgs), Seeding: len(m.seeding),
		SyncedAt: m.sync.ok, SyncedFrom: m.sync.from, SyncFailedAt: m.sync.failed, SyncError: m.sync.err}
	m.mu.Unlock()
	es := m.engine.Stats()
	st.Connected, st.Uploaded = es.Peers, es.Uploaded
	if m.catsrv != nil { // nil until RunMirror made it (a scrape comes after)
		st.WebSeedBytes = m.catsrv.ArchiveBytesServed()
	}
	st.SeederAnnounces = m.engine.TrackerHealth()
	return st
}
