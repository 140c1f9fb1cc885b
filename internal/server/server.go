// Package server is the composition root of dist-server start: the catalog
// HTTP server, the embedded tracker and the seeder, kept in step with the
// working catalog while they run; and of dist-server mirror (mirror.go),
// which serves and seeds a primary's catalog instead of its own.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/tracker"
)

// Options select what Run starts.
type Options struct {
	Paths      paths.Server
	Config     *config.Server
	NoTracker  bool
	NoSeeder   bool
	NoDatabase bool
	Logger     *slog.Logger
	// Ready is called once every component listens.
	Ready func(Info)
	// PollInterval is how often the catalog is checked for new packages.
	PollInterval time.Duration
}

// Info describes a running server; it is written to server.json.
type Info struct {
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Database string    `json:"database,omitempty"` // catalog HTTP URL, as a client on this machine reaches it
	Tracker  string    `json:"tracker,omitempty"`  // announce URL, likewise
	Peer     string    `json:"peer,omitempty"`     // seeder host:port registered in the tracker
	Metrics  string    `json:"metrics,omitempty"`  // metrics URL when metrics_addr moves them
	Control  string    `json:"control"`            // local status endpoint
	// MirrorOf lists the servers a mirror follows (dist-server mirror);
	// empty for a publisher.
	MirrorOf []string `json:"mirror_of,omitempty"`
	// Listen holds the addresses actually bound, by component ("catalog",
	// "tracker", "seeder", "metrics"); an unspecified host means every
	// address of the machine.
	Listen map[string]string `json:"listen,omitempty"`
}

// Status is what dist-server status shows.
type Status struct {
	Info
	Serial       int64  `json:"serial"`
	Packages     int    `json:"packages"`
	Seeding      int    `json:"seeding"`
	TrackedPeers int    `json:"tracked_peers"`
	Connected    int    `json:"connected_peers"`
	Uploaded     int64  `json:"uploaded_bytes"`
	Announces    uint64 `json:"announces"`
}

// seedRetry is how often packages that failed to seed are tried again.
const seedRetry = 30 * time.Second

// ErrRunning means another server holds the data directory.
var ErrRunning = errors.New("a server is already running on this data directory")

type runner struct {
	opts    Options
	log     *slog.Logger
	key     *signing.Key
	db      *catalog.DB
	pub     *publish.Publisher
	catsrv  *catalogserver.Server
	tracker *tracker.Tracker
	engine  *swarm.Engine
	selfIP  netip.Addr
	// served is the set of infohashes in the current catalog: the only
	// torrents the embedded tracker serves unless open_tracker is set.
	served atomic.Pointer[map[[20]byte]struct{}]
	// validFor is catalog_valid_for: how long each publication is valid.
	validFor time.Duration

	mu       sync.Mutex
	serial   int64                     // guarded by mu
	packages int                       // guarded by mu
	seeding  map[swarm.InfoHash]string // infohash -> archive; guarded by mu
	// names is each catalog package's name@version by infohash, for
	// per-package metrics; guarded by mu.
	names map[swarm.InfoHash]string
	// errors counts failures by component, for metrics.
	errors *prometheus.CounterVec
	// seedFailures counts packages of the current catalog not seeded;
	// lastReload is when that was found. Both guarded by mu.
	seedFailures int
	lastReload   time.Time
	info         Info
}

// Run starts the server and blocks until ctx ends, then shuts down.
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	swarm.RouteLibraryLogs(opts.Logger)
	p := opts.Paths
	runLock, err := lockRun(p)
	if err != nil {
		return err
	}
	defer runLock.Unlock()

	r := &runner{opts: opts, log: opts.Logger, seeding: map[swarm.InfoHash]string{}}
	r.pub = &publish.Publisher{Paths: p, Config: opts.Config, Logger: opts.Logger}
	if r.key, err = signing.LoadOrCreate(p.SigningKey()); err != nil {
		return err
	}
	r.validFor = time.Duration(opts.Config.CatalogValidFor)
	if r.validFor <= 0 {
		r.validFor = catalog.DefaultValidFor
	}
	if r.db, err = catalog.Open(ctx, p.Catalog(), catalog.ValidFor(r.validFor)); err != nil {
		return err
	}
	defer r.db.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &httpGroup{log: r.log}
	defer g.shutdown()
	serve := g.serve

	reg := prometheus.NewRegistry()
	r.info = Info{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Listen: map[string]string{}}
	if !opts.NoTracker {
		topts := tracker.Options{Logger: r.log}
		if !opts.Config.OpenTracker {
			topts.Allowed = r.inCatalog
		}
		r.tracker = tracker.New(topts)
		go r.tracker.Run(ctx)
		a, err := serve("tracker", opts.Config.TrackerAddr, r.tracker.Handler())
		if err != nil {
			return err
		}
		r.info.Tracker = "http://" + hostPort(a) + "/announce"
		r.info.Listen["tracker"] = a.String()
	}
	if !opts.NoSeeder {
		r.selfIP = opts.Config.SeederIP()
		// With the embedded tracker, the seeder is registered in it
		// directly; without, it announces to announce_url(s).
		r.engine, err = swarm.New(seederConfig(opts.Config, p.Archives(), !opts.NoTracker, r.log))
		if err != nil {
			return err
		}
		defer r.engine.Close()
		r.info.Peer = netip.AddrPortFrom(r.selfIP, uint16(r.engine.Port())).String()
		r.info.Listen["seeder"] = r.engine.Addr().String()
	}
	if !opts.NoDatabase {
		r.catsrv = catalogserver.New(catalogserver.Options{ArchivesDir: p.Archives(), Registry: reg, Logger: r.log, NoMetrics: opts.Config.MetricsAddr != ""})
		r.catsrv.SetKey(r.key.Public())
		if err := g.serveCatalog(opts.Config, r.catsrv, &r.info); err != nil {
			return err
		}
	}
	r.registerMetrics(reg)
	// A server that was down a while re-signs before it serves anything,
	// so it never serves an expired catalog.
	r.renew(ctx)
	if err := r.reload(ctx, true); err != nil {
		return err
	}
	defer os.Remove(p.PIDFile())
	if err := g.ready(p, &r.info, r.status, opts.Ready); err != nil {
		return err
	}
	r.log.Info("server ready", "database", r.info.Database, "tracker", r.info.Tracker, "peer", r.info.Peer)

	tick := time.NewTicker(opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.log.Info("server stopping")
			return nil
		case <-tick.C:
			r.renew(ctx)
			if err := r.reload(ctx, false); err != nil && ctx.Err() == nil {
				r.errors.WithLabelValues("reload").Inc()
				r.log.Warn("catalog reload failed; serving the previous one", "err", err)
			}
		}
	}
}

// hostPort shows a listener's address as clients on this machine reach it.
func hostPort(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	if ap.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
	}
	return ap.String()
}

// reload brings the served snapshot and the seeded set in line with the
// working catalog when its serial changed.
func (r *runner) reload(ctx context.Context, first bool) error {
	meta, err := r.db.Meta(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	// Packages that could not be seeded are tried again every 30 s (their
	// archive may be being repaired), without a new publication.
	same := !first && meta.Serial == r.serial && (r.seedFailures == 0 || time.Since(r.lastReload) < seedRetry)
	r.mu.Unlock()
	if same {
		return nil
	}
	// `dist-server key rotate` may have replaced the key with this serial.
	if err := r.reloadKey(); err != nil {
		return err
	}
	snap, err := publish.ReadPublished(ctx, r.opts.Paths.PublicDir(), r.key.Public(), meta.Serial)
	if err != nil {
		// An add may be between its commit and its publication: wait for
		// it through the publish lock, then repair if it died half-way.
		if err := r.pub.Repair(ctx); err != nil {
			return err
		}
		if meta, err = r.db.Meta(ctx); err != nil {
			return err
		}
		if err := r.reloadKey(); err != nil {
			return err
		}
		if snap, err = publish.ReadPublished(ctx, r.opts.Paths.PublicDir(), r.key.Public(), meta.Serial); err != nil {
			return fmt.Errorf("published catalog: %w", err)
		}
	}
	pkgs, err := r.db.All(ctx)
	if err != nil {
		return err
	}
	served := make(map[[20]byte]struct{}, len(pkgs))
	names := make(map[swarm.InfoHash]string, len(pkgs))
	for _, p := range pkgs {
		if ih, err := swarm.ParseInfoHash(p.InfoHash); err == nil {
			served[ih] = struct{}{}
			names[ih] = p.ID()
		}
	}
	r.served.Store(&served)
	// An add writes the whitelist itself; this covers a whitelist set in
	// server.yaml after the last publication, and an add that died before.
	if wl := r.opts.Config.TrackerWhitelist; wl != "" {
		if err := publish.WriteWhitelist(wl, pkgs); err != nil {
			r.log.Error("cannot write the tracker whitelist; an external tracker will refuse new packages", "err", err)
		}
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

// reloadKey reads the signing key again: a key rotation replaces it while
// the server runs.
func (r *runner) reloadKey() error {
	k, err := signing.Load(r.opts.Paths.SigningKey())
	if err != nil {
		return err
	}
	if !k.Public().Equal(r.key.Public()) {
		r.log.Info("signing key rotated", "old", r.key.Public().Fingerprint(), "new", k.Public().Fingerprint())
		r.key = k
		if r.catsrv != nil {
			r.catsrv.SetKey(k.Public())
		}
	}
	return nil
}

// renew re-signs the catalog before it expires (see publish.RenewDue),
// without a restart; the next reload serves the new serial. The check is
// one read of the meta row; the publish lock is taken only when due.
func (r *runner) renew(ctx context.Context) {
	meta, err := r.db.Meta(ctx)
	if err != nil || !publish.RenewDue(meta, r.validFor, time.Now()) {
		return
	}
	m, renewed, err := r.pub.Renew(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("re-signing the catalog before it expires failed; will retry", "valid_until", meta.ValidUntil, "err", err)
		}
		return
	}
	if renewed {
		r.log.Info("catalog re-signed before it expires", "serial", m.Serial, "valid_until", m.ValidUntil)
	}
}

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
	r.mu.Unlock()
	self := netip.AddrPortFrom(r.selfIP, uint16(r.engine.Port()))
	for _, ih := range drop {
		r.engine.Drop(ih)
		if r.tracker != nil {
			r.tracker.RemovePeer(ih, self)
		}
		r.mu.Lock()
		delete(r.seeding, ih)
		r.mu.Unlock()
	}
	for ih, p := range want {
		r.mu.Lock()
		_, have := r.seeding[ih]
		r.mu.Unlock()
		if have {
			if r.tracker != nil {
				r.tracker.AddPeer(ih, self, true) // pinned again, whatever announces did
			}
			continue
		}
		if _, err := r.engine.Seed(ctx, p.Torrent, true); err != nil {
			r.errors.WithLabelValues("seeder").Inc()
			r.log.Error("cannot seed package", "package", p.ID(), "archive", filepath.Join(r.engine.Dir(), p.Archive), "err", err)
			failed++
			continue
		}
		if r.tracker != nil {
			r.tracker.AddPeer(ih, self, true)
		}
		r.mu.Lock()
		r.seeding[ih] = p.Archive
		r.mu.Unlock()
	}
	return failed
}

// inCatalog reports whether ih is a package of the current catalog.
func (r *runner) inCatalog(ih [20]byte) bool {
	m := r.served.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[ih]
	return ok
}

func (r *runner) status() Status {
	r.mu.Lock()
	st := Status{Info: r.info, Serial: r.serial, Packages: r.packages, Seeding: len(r.seeding)}
	r.mu.Unlock()
	if r.tracker != nil {
		ts := r.tracker.Stats()
		st.TrackedPeers, st.Announces = ts.Peers, ts.Announces
	}
	if r.engine != nil {
		es := r.engine.Stats()
		st.Connected, st.Uploaded = es.Peers, es.Uploaded
	}
	return st
}

func (r *runner) registerMetrics(reg *prometheus.Registry) {
	gauge := func(name, help string, f func(Status) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(r.status()) }))
	}
	gauge("distpac_packages", "Package versions in the published catalog.", func(s Status) float64 { return float64(s.Packages) })
	gauge("distpac_seeding_torrents", "Torrents the seeder shares.", func(s Status) float64 { return float64(s.Seeding) })
	gauge("distpac_tracker_peers", "Peers known to the embedded tracker.", func(s Status) float64 { return float64(s.TrackedPeers) })
	gauge("distpac_seeder_connected_peers", "Peers connected to the seeder.", func(s Status) float64 { return float64(s.Connected) })
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_seeder_uploaded_bytes_total", Help: "Payload bytes the seeder sent."},
		func() float64 { return float64(r.status().Uploaded) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "distpac_tracker_announces_total", Help: "Announces the embedded tracker received, refused ones included."},
		func() float64 { return float64(r.status().Announces) }))
	r.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "distpac_errors_total", Help: "Failures by component: seeder (a package could not be seeded), reload (the catalog could not be reloaded)."}, []string{"component"})
	for _, c := range []string{"seeder", "reload"} {
		r.errors.WithLabelValues(c)
	}
	reg.MustRegister(r.errors, &packageCollector{r: r,
		downloads: prometheus.NewDesc("distpac_package_downloads_total", "Completed downloads of each package the tracker was told of (BEP 3 completed events).", []string{"package"}, nil),
		uploaded:  prometheus.NewDesc("distpac_package_seeder_uploaded_bytes_total", "Payload bytes the seeder sent of each package.", []string{"package"}, nil),
		refused:   prometheus.NewDesc("distpac_tracker_refused_total", "Announces the embedded tracker refused, by reason.", []string{"reason"}, nil),
	})
}

// packageCollector reports per-package and per-reason counters, computed
// at scrape time from the tracker and the seeder.
type packageCollector struct {
	r                            *runner
	downloads, uploaded, refused *prometheus.Desc
}

func (c *packageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.downloads
	ch <- c.uploaded
	ch <- c.refused
}

func (c *packageCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.Lock()
	names := r.names
	r.mu.Unlock()
	if r.tracker != nil {
		ihs := make([][20]byte, 0, len(names))
		for ih := range names {
			ihs = append(ihs, ih)
		}
		res, _ := r.tracker.Scrape(context.Background(), ihs)
		for i, ih := range ihs {
			ch <- prometheus.MustNewConstMetric(c.downloads, prometheus.CounterValue, float64(res[i].Completed), names[ih])
		}
		for reason, n := range r.tracker.Refused() {
			ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), reason)
		}
	}
	if r.engine != nil {
		for _, t := range r.engine.Torrents() {
			ih, err := swarm.ParseInfoHash(t.InfoHash)
			if name, ok := names[ih]; err == nil && ok {
				ch <- prometheus.MustNewConstMetric(c.uploaded, prometheus.CounterValue, float64(t.Uploaded), name)
			}
		}
	}
}
