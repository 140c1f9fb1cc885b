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
//
// Here: its options and state, RunMirror (listeners, engine, catalog
// server, then a round every interval) and its status. A round's sync and
// fill are in mirror_round.go, the archives' downloads in mirror_fetch.go.

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
	// behind: the primaries behind the catalog held at the last sync
	// (noteBehind), since behindSince.
	sync struct {
		ok, failed  time.Time
		from, err   string
		behind      []PrimaryBehind
		behindSince time.Time
	}
	keyRefusals     keyRefusals     // the round's alone
	staleKey        staleKey        // the round's alone
	primaryFailures primaryFailures // the round's alone
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
	if err := rememberPrimaries(p, opts.Primary); err != nil {
		opts.Logger.Warn("cannot record the primary's URL: a start without one will not find it", "err", err)
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

func (m *mirror) status() Status {
	m.mu.Lock()
	st := Status{Info: m.info, Serial: m.serial, Packages: len(m.pkgs), Seeding: len(m.seeding),
		SyncedAt: m.sync.ok, SyncedFrom: m.sync.from, SyncFailedAt: m.sync.failed, SyncError: m.sync.err,
		PrimaryBehind: m.sync.behind, PrimaryBehindSince: m.sync.behindSince}
	m.mu.Unlock()
	es := m.engine.Stats()
	st.Connected, st.Uploaded = es.Peers, es.Uploaded
	if m.catsrv != nil { // nil until RunMirror made it (a scrape comes after)
		st.WebSeedBytes = m.catsrv.ArchiveBytesServed()
	}
	st.SeederAnnounces = m.engine.TrackerHealth()
	return st
}
