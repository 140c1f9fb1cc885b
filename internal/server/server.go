// Package server is the composition root of dist-server start: the catalog
// HTTP server, the embedded tracker and the seeder, kept in step with the
// working catalog while they run; and of dist-server mirror (mirror.go),
// which serves and seeds a primary's catalog instead of its own.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
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
	Paths  paths.Server
	Config *config.Server
	// ConfigPath is the file Config was read from, named when an address
	// is in use.
	ConfigPath string
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
	// MirrorOf lists the servers a mirror follows (dist-server mirror),
	// their passwords masked (redact.URL); empty for a publisher.
	MirrorOf []string `json:"mirror_of,omitempty"`
	// Listen holds the addresses actually bound, by component ("catalog",
	// "tracker", "seeder", "metrics"); an unspecified host means every
	// address of the machine.
	Listen map[string]string `json:"listen,omitempty"`
	// Filling: a mirror that serves its catalog and answers status, and
	// is still fetching archives before it reports its start (at most
	// mirrorStartFill): dist-server mirror waits for it to end. Status
	// said only "starting" for those 5 minutes (an operator's run).
	Filling bool `json:"filling"`
	// Verifying: a publisher that answers status and is still checking
	// its archives before it seeds them and serves its catalog (the first
	// seeding, every archive hashed): dist-server start waits for it to
	// end. Status said only "starting" meanwhile, minutes for many large
	// archives.
	Verifying bool `json:"verifying"`
}

// Starting reports whether the server of info is still starting: a
// mirror fetching its archives, a publisher checking its own.
func (i Info) Starting() bool { return i.Filling || i.Verifying }

// Status is what dist-server status shows.
type Status struct {
	Info
	Serial   int64 `json:"serial"`
	Packages int   `json:"packages"`
	Seeding  int   `json:"seeding"`
	// The embedded tracker's counters, null when it is off (a mirror,
	// start --no-tracker), as the text says "tracker: off": a mirror's
	// gave 0 peers and announces of a tracker it does not run (a
	// newcomer's run). TrackedPeers counts entries, over every swarm;
	// TrackedHosts how many peers announced, each once, this server's own
	// seeder left out (tracker.Stats.Hosts).
	TrackedPeers *int    `json:"tracked_peers"`
	TrackedHosts *int    `json:"tracked_hosts"`
	Announces    *uint64 `json:"announces"`
	Connected    int     `json:"connected_peers"`
	Uploaded     int64   `json:"uploaded_bytes"` // by the seeder
	// WebSeedBytes is what the catalog server sent of archives over HTTP
	// (/packages/): status said only the seeder's upload, so a mirror
	// serving installs over HTTP while the publisher was down showed
	// none of it.
	WebSeedBytes int64 `json:"web_seed_bytes"`
	// Verified and ToVerify say how far a Verifying publisher came:
	// archives checked (seeded, or found missing or damaged), of all.
	Verified int `json:"verified,omitempty"`
	ToVerify int `json:"to_verify,omitempty"`
	// A mirror's last syncs from its primary: when one last gave the
	// catalog it holds (SyncedFrom the server that did), and when the
	// last one failed since, with why.
	SyncedAt     time.Time `json:"synced_at,omitzero"`
	SyncedFrom   string    `json:"synced_from,omitempty"`
	SyncFailedAt time.Time `json:"sync_failed_at,omitzero"`
	SyncError    string    `json:"sync_error,omitempty"`
	// The primaries that answered the last sync with a catalog older
	// than the one held (none gave a newer one), since when: the mirror
	// serves the one it holds on, and the sync has not failed.
	PrimaryBehind      []PrimaryBehind `json:"primary_behind,omitempty"`
	PrimaryBehindSince time.Time       `json:"primary_behind_since,omitzero"`
	// A primary whose working catalog clients would refuse (edited by
	// hand): since when it has not been signed, and why; Serial is the
	// catalog still served.
	UnsignedSince time.Time `json:"unsigned_since,omitzero"`
	UnsignedError string    `json:"unsigned_error,omitempty"`
	// A catalog served that could not be re-signed before it expires
	// (its serial at the last one): since when re-signing fails, the
	// last failure, and until when the catalog served is valid (clients
	// refuse it after). It was seen only in the log.
	ResignFailingSince time.Time `json:"resign_failing_since,omitzero"`
	ResignError        string    `json:"resign_error,omitempty"`
	ResignValidUntil   time.Time `json:"resign_valid_until,omitzero"`
	// SeederAnnounces is how the seeder's announces fare at each tracker
	// it announces to (with --no-tracker, and a mirror's): opentracker
	// refusing them was seen only in the log.
	SeederAnnounces []swarm.TrackerHealth `json:"seeder_announces,omitempty"`
}

// seedRetry is how often packages that failed to seed are tried again
// (once their archive changed); a test shortens it before Run.
var seedRetry = 30 * time.Second

// recheckEvery is how often the seeder looks for archives changed on disk
// (swarm.RecheckLoop); a test shortens it before Run.
var recheckEvery = swarm.RecheckEvery

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
	// servedKnown is closed once the first reload has set served, or Run
	// went on without it (markServedKnown): until then an announce waits
	// for it (inCatalog).
	servedKnown     chan struct{}
	servedKnownOnce sync.Once
	// servedWaitEnded is when a wait of inCatalog last ran out (unix
	// nanoseconds; 0: none has).
	servedWaitEnded atomic.Int64
	// validFor is catalog_valid_for: how long each publication is valid.
	validFor time.Duration

	mu       sync.Mutex
	serial   int64                     // guarded by mu
	packages int                       // guarded by mu
	seeding  map[swarm.InfoHash]string // infohash -> archive; guarded by mu
	// unseedable is the archive file of each package that failed to seed,
	// as it was then (nil if it could not be read); guarded by mu.
	unseedable map[swarm.InfoHash]os.FileInfo
	// names is each catalog package's name@version by infohash, for
	// per-package metrics; guarded by mu.
	names map[swarm.InfoHash]string
	// errors counts failures by component, for metrics.
	errors *prometheus.CounterVec
	// seedFailures counts packages of the current catalog not seeded;
	// lastReload is when that was found. Both guarded by mu.
	seedFailures int
	lastReload   time.Time
	// checked is how many archives syncSeeds has checked of those it
	// took (status, while info.Verifying); guarded by mu.
	checked struct{ done, of int }
	info    Info // its Verifying guarded by mu, the rest set before status is served
	// refusedErr is why the working catalog's publication was last
	// refused (catalog.ErrUnpublishable), nil once one succeeds; refused
	// is its stamp then. Only Run's goroutine (renew, reload) uses them.
	refused    catalog.Stamp
	refusedErr error
	// unsignedSince is when the publications began to be refused, zero
	// while they are not, for status; guarded by mu.
	unsignedSince time.Time
	unsignedErr   string
	// resign is the run of failed re-signings status shows (renew sets
	// it, under mu; the zero value: none failing).
	resign resignFailing
	// reopenFailed is the replacing catalog.db that could not be opened,
	// so that reopen tries again (and logs) only once it changes; only
	// Run's goroutine uses it.
	reopenFailed os.FileInfo
	// gone: catalog.db is missing, empty or not a regular file
	// (catalogGone said so); only Run's goroutine uses it.
	gone bool
	// reopened says the working catalog was opened again since the last
	// reload; only Run's goroutine uses it.
	reopened bool
	// renewFailures is the run of failed re-signings (renew), so that
	// they are not logged every poll; only Run's goroutine uses it.
	renewFailures repeatedFailure
	// reloadFailures is the run of failed polls (renew, reload): a
	// catalog.db replaced while signing.key was away failed every poll,
	// and each was logged, twice a second; only Run's goroutine uses it.
	reloadFailures repeatedFailure
	// peersRestored: the tracker read the peers file of the last stop
	// (restorePeers, at the first reload that says what is served), so
	// that it may write its own at this one; only Run's goroutine uses it.
	peersRestored bool
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
	// Registered first: runs once everything else is closed.
	defer func(started time.Time) { logStopped(opts.Logger, "server", started, err) }(time.Now())
	lns, err := listenAll(opts.Config, opts.ConfigPath, listenWants{tracker: !opts.NoTracker, seeder: !opts.NoSeeder, catalog: !opts.NoDatabase})
	if err != nil {
		return err
	}
	defer lns.close()

	r := &runner{opts: opts, log: opts.Logger, seeding: map[swarm.InfoHash]string{}, unseedable: map[swarm.InfoHash]os.FileInfo{}, servedKnown: make(chan struct{}),
		renewFailures: repeatedFailure{every: resignLogEvery}, reloadFailures: repeatedFailure{every: resignLogEvery}}
	defer r.markServedKnown() // a start that fails keeps no announce waiting
	r.pub = &publish.Publisher{Paths: p, Config: opts.Config, Logger: opts.Logger}
	if r.key, err = publish.LoadKey(p); err != nil {
		return err
	}
	r.validFor = time.Duration(opts.Config.CatalogValidFor)
	if r.validFor <= 0 {
		r.validFor = catalog.DefaultValidFor
	}
	if err := r.pub.Lost(ctx); err != nil {
		return err
	}
	if r.db, err = catalog.Open(ctx, p.Catalog(), catalog.ValidFor(r.validFor)); err != nil {
		return err
	}
	defer func() { r.db.Close() }() // the one open at the end (reopen)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Registered before the listeners' shutdown, so it runs after it: no
	// announce lands once the peers are written.
	defer r.savePeers()
	g := &httpGroup{log: r.log}
	defer g.shutdown()

	reg := prometheus.NewRegistry()
	reg.MustRegister(g.connCollector())
	r.info = Info{PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Listen: map[string]string{}}
	if !opts.NoTracker {
		topts := tracker.Options{Logger: r.log}
		if !opts.Config.OpenTracker {
			topts.Allowed, topts.Known = r.inCatalog, r.servedIsKnown
		}
		r.tracker = tracker.New(topts)
		go r.tracker.Run(ctx)
		a := g.serveOn("tracker", take(&lns.tracker), r.tracker.Handler())
		r.info.Tracker = "http://" + hostPort(a) + "/announce"
		r.info.Listen["tracker"] = a.String()
	}
	up := uplink(opts.Config)
	if !opts.NoSeeder {
		r.selfIP = opts.Config.SeederIP()
		// With the embedded tracker, the seeder is registered in it
		// directly; without, it announces to announce_url(s).
		r.engine, err = swarm.New(seederConfig(opts.Config, p.Archives(), !opts.NoTracker, up, r.log))
		if err != nil {
			return config.InUse("peer_addr", false, err)
		}
		defer r.engine.Close()
		r.info.Peer = r.self().String()
		r.info.Listen["seeder"] = r.engine.Addr().String()
	}
	if !opts.NoDatabase {
		r.catsrv = catalogserver.New(catalogserver.Options{ArchivesDir: p.Archives(), Registry: reg, Logger: r.log, NoMetrics: opts.Config.MetricsAddr != "", UploadLimiter: up})
		r.catsrv.SetKey(r.key.Public())
		g.serveCatalog(lns, r.catsrv, &r.info)
	}
	r.registerMetrics(reg)
	// A server that was down a while re-signs before it serves anything,
	// so it never serves an expired catalog.
	meta, err := r.renew(ctx)
	if err != nil {
		return err
	}
	// A catalog.db replaced or edited while the server was stopped is not
	// the file the published pair was made of, whatever its serial: it is
	// adopted as a running server adopts a file moved into place (reopen),
	// checked in full and published under a serial above the one
	// published, or refused. At the serial published, the pair signed
	// before was served as its own, checked or not.
	r.reopened = !r.db.Sealed()
	defer os.Remove(p.PIDFile())
	// Status answers from here on: while the seeder checks every archive
	// (reload's first seeding), server.json says Verifying and status how
	// far the check came, as a mirror's says it is filling.
	r.info.Verifying = r.engine != nil
	if err := g.control(&r.info, r.fullStatus); err != nil {
		return err
	}
	if r.info.Verifying {
		if err := writeInfo(p, r.info); err != nil {
			return err
		}
	}
	if firstReloadHook != nil {
		firstReloadHook()
	}
	err = r.reload(ctx, true, meta)
	r.markServedKnown() // a first reload that served nothing (refused) too
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.info.Verifying = false
	info := r.info
	r.mu.Unlock()
	if err := writeInfo(p, info); err != nil {
		return err
	}
	if opts.Ready != nil {
		opts.Ready(info)
	}
	r.log.Info("server ready", "database", r.info.Database, "tracker", r.info.Tracker, "peer", r.info.Peer)

	tick := time.NewTicker(opts.PollInterval)
	defer tick.Stop()
	if r.engine != nil {
		var rechecks sync.WaitGroup
		defer rechecks.Wait() // before the engine closes
		defer cancel()
		rechecks.Go(func() { r.engine.RecheckLoop(ctx, recheckEvery, r.dropDamaged) })
	}
	for {
		select {
		case <-ctx.Done():
			r.log.Info("server stopping")
			return nil
		case <-tick.C:
			r.reopen(ctx)
			meta, err := r.renew(ctx)
			if err == nil {
				err = r.reload(ctx, false, meta)
			}
			switch {
			case err != nil && ctx.Err() == nil:
				r.errors.WithLabelValues("reload").Inc()
				if logIt, attrs := r.reloadFailures.failed(time.Now()); logIt {
					r.log.Warn("catalog reload failed; serving the previous one", append([]any{"err", err}, attrs...)...)
				}
			case err == nil:
				if attrs := r.reloadFailures.ended(); attrs != nil {
					r.log.Info("catalog reloads again", attrs...)
				}
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

// fullStatus is status with what costs more than a metrics scrape should
// pay each time: what dist-server status shows.
func (r *runner) fullStatus() Status {
	st := r.status()
	if r.tracker != nil {
		st.TrackedHosts = new(r.tracker.Hosts())
	}
	if r.engine != nil {
		st.SeederAnnounces = r.engine.TrackerHealth()
	}
	return st
}

func (r *runner) status() Status {
	r.mu.Lock()
	st := Status{Info: r.info, Serial: r.serial, Packages: r.packages, Seeding: len(r.seeding)}
	if st.Verifying {
		st.Verified, st.ToVerify = r.checked.done, r.checked.of
	}
	st.UnsignedSince = r.unsignedSince
	if !st.UnsignedSince.IsZero() {
		st.UnsignedError = r.unsignedErr
	}
	st.ResignFailingSince, st.ResignError, st.ResignValidUntil = r.resign.since, r.resign.err, r.resign.validUntil
	r.mu.Unlock()
	if r.tracker != nil {
		ts := r.tracker.Stats()
		st.TrackedPeers, st.Announces = new(ts.Peers), new(ts.Announces)
	}
	if r.engine != nil {
		es := r.engine.Stats()
		st.Connected, st.Uploaded = es.Peers, es.Uploaded
	}
	if r.catsrv != nil {
		st.WebSeedBytes = r.catsrv.ArchiveBytesServed()
	}
	return st
}
