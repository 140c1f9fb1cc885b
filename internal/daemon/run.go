package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/connlimit"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

// Options configure Run.
type Options struct {
	Paths  paths.Client
	Config *config.Client
	Logger *slog.Logger
	// Printf and Warnf print lines for the user; nil discards them.
	Printf, Warnf func(format string, args ...any)
}

// printf prints a line for the user, when Printf is set.
func (o Options) printf(format string, args ...any) {
	if o.Printf != nil {
		o.Printf(format, args...)
	}
}

// warnf prints a warning for the user, when Warnf is set.
func (o Options) warnf(format string, args ...any) {
	if o.Warnf != nil {
		o.Warnf(format, args...)
	}
}

// EngineConfig is the one place a client's BitTorrent engine is configured
// from client.yaml: the daemon and an install without a daemon both use it.
// Every server of server_urls is a web seed (its /packages/): before the
// torrent's own for one whose publisher names web seeds, and the last
// resort for the others (swarm.Config.MirrorWebSeeds), in the order a sync
// in serversDir would try them now (MirrorSeeds; "" for the configured
// order). A daemon orders them again for each request it serves.
func EngineConfig(cfg *config.Client, dir, serversDir string, logger *slog.Logger) swarm.Config {
	return swarm.Config{
		Dir:            dir,
		ListenAddr:     cfg.PeerAddr,
		UploadRate:     int64(cfg.UploadRateLimit),
		DownloadRate:   int64(cfg.DownloadRateLimit),
		MirrorWebSeeds: MirrorSeeds(cfg, serversDir),
		Logger:         logger,
	}
}

// MirrorSeeds is the web seeds of the servers of server_urls in the order
// a sync in serversDir would try them now (catalogclient.OrderServers:
// one that failed a sync in the last ten minutes, per servers.json, last;
// "" for the configured order).
func MirrorSeeds(cfg *config.Client, serversDir string) []string {
	return swarm.MirrorSeeds(catalogclient.OrderServers(serversDir, cfg.Servers()))
}

// policyInterval is how often the seeding limits are checked.
const policyInterval = 15 * time.Second

// Run is dist-client daemon: it takes the socket, starts the engine, seeds
// what client.yaml's seed policy names, serves the CLI (and metrics) until
// ctx ends, and stops seeding what the ratio and time limits say.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, cp := o.Config, o.Paths
	// Without a catalog yet the daemon runs, seeding nothing: a user unit
	// enabled before the first sync (the README's order) exited with "no
	// catalog yet" and was restarted every 5 s until someone synced. Each
	// request reads the catalog afresh, so installs go through the daemon
	// from the first sync on.
	want, err := toSeed(ctx, cfg.Seed, cp)
	noCatalog := errors.Is(err, catalogclient.ErrNoCatalog)
	switch {
	case noCatalog:
		o.warnf("no catalog yet: seeding nothing until `dist-client sync`; installs download through this daemon once it has run\n")
	case err != nil:
		return err
	}
	ln, err := Listen(cp.DaemonSocket())
	if err != nil {
		return err
	}
	defer func() {
		ln.Close()
		ln.Release() // after everything below is closed
	}()
	engine, back, err := startEngine(ctx, o, ln)
	waited := back != ln // the socket was given up and taken back
	ln = back
	if engine == nil {
		return err // nil: stopped while it waited for peer_addr
	}
	defer engine.Close()
	if waited {
		// It waited for an install, whose archives the cache holds now:
		// what it found at its start is not what to seed (a daemon that
		// waited seeded nothing of what the install had downloaded).
		want, err = toSeed(ctx, cfg.Seed, cp)
		noCatalog = errors.Is(err, catalogclient.ErrNoCatalog)
		if err != nil && !noCatalog {
			return err
		}
	}

	ready := make(chan struct{})
	m := newMetrics(engine)
	req := &requested{}
	h := &handler{engine: engine, catalogDir: cp.Dir, logger: o.Logger, started: time.Now(), seed: cfg.Seed, metrics: m.handler(), ready: ready,
		requested: req,
		// servers.json changes with every sync, while the daemon runs for
		// days: read (a few hundred bytes) for each request.
		mirrorSeeds: func() []string { return MirrorSeeds(cfg, cp.Dir) },
		downloaded: func(rs []Report) {
			m.downloaded(rs)
			if cfg.CacheMaxSize > 0 && cfg.Seed != config.SeedNone {
				trimCache(engine, cp, rs, req, int64(cfg.CacheMaxSize), o.Logger)
			}
			if cfg.Seed == config.SeedNone {
				// Nothing is shared once the install has its archives.
				for _, r := range rs {
					if ih, err := swarm.ParseInfoHash(r.InfoHash); err == nil {
						engine.Drop(ih)
					}
				}
			}
		},
		failed: m.failed,
	}
	// A bad metrics_addr fails the start before the socket answers anyone.
	var metricsAt net.Addr
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics_addr: listen on %s: %w", cfg.MetricsAddr, err)
		}
		// Bounded as dist-server's listeners are: anyone who reaches
		// the address could hold 18,000 idle connections, the daemon's
		// descriptors (its peer listener then spun on failed accepts, and
		// installs found no daemon), or send a megabyte of headers on each.
		lim := connlimit.Wrap(mln, connlimit.Options{Name: "metrics", Logger: o.Logger})
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", h.metrics)
		msrv := connlimit.NewHTTPServer(mux, o.Logger)
		lim.Bind(msrv)
		go msrv.Serve(lim)
		defer msrv.Close()
		metricsAt = mln.Addr()
	}
	// The socket answers before the cached archives are verified for
	// seeding, which reads the whole cache: an install that found no answer
	// within Dial's 2 s started an engine of its own beside the daemon's.
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan struct{})
	var serveErr error
	go func() {
		defer close(served)
		serveErr = serve(serveCtx, ln, h)
	}()
	defer func() {
		stopServing()
		<-served
	}()
	var seeding []string
	for _, p := range want {
		select {
		case <-served: // the socket failed: stop here and say why
			return serveErr
		default:
		}
		if _, err := engine.Seed(ctx, p.Torrent, true); err != nil {
			if ctx.Err() != nil {
				break
			}
			o.warnf("not seeding %s: %v\n", filepath.Join(cp.Cache(), p.Archive), err)
			continue
		}
		seeding = append(seeding, p.Name+" "+p.Version)
	}
	if ctx.Err() != nil {
		return nil // stopped while setting up
	}
	close(ready)
	list := ""
	if len(seeding) > 0 {
		list = ": " + strings.Join(seeding, ", ")
	}
	o.printf("dist-client daemon (pid %d) seeding %s (seed: %s) on %s%s\n", os.Getpid(), ui.Count(len(seeding), "archive"), cfg.Seed, engine.Addr(), list)
	if metricsAt != nil {
		o.printf("metrics at http://%s/metrics\n", metricsAt)
	}

	o.printf("installs from this data home now download through %s\n", cp.DaemonSocket())
	if cfg.SeedRatioLimit > 0 || cfg.SeedTimeLimit > 0 {
		go enforceLimits(ctx, engine, cfg, o.Logger)
	}
	var installed, cached func() (map[string]bool, error)
	switch cfg.Seed {
	case config.SeedInstalled:
		installed = func() (map[string]bool, error) { return installedArchives(cp.Installed()) }
	case config.SeedCached:
		cached = func() (map[string]bool, error) { return cachedArchives(cp.Cache()) }
	}
	var firstCatalog func(context.Context) bool
	if noCatalog && cfg.Seed != config.SeedNone {
		firstCatalog = func(ctx context.Context) bool { return seedFirstCatalog(ctx, engine, cfg.Seed, cp, o.Logger) }
	}
	go followCatalog(ctx, &follower{engine: engine, catalogDir: cp.Dir, installed: installed, cached: cached, firstCatalog: firstCatalog, logger: o.Logger})
	go engine.RecheckLoop(ctx, swarm.RecheckEvery, nil) // archives changed in the cache
	<-served
	if serveErr != nil {
		return serveErr
	}
	st := engine.Stats()
	o.printf("daemon stopping; uploaded %s\n", units.FormatBytes(st.Uploaded))
	return nil
}

// toSeed lists the cached archives the policy says to seed, from the
// synced catalog: an error matching catalogclient.ErrNoCatalog before the
// first sync.
func toSeed(ctx context.Context, policy string, cp paths.Client) ([]catalog.Package, error) {
	db, err := catalogclient.Open(ctx, cp.Dir)
	if err != nil {
		return nil, err
	}
	pkgs, err := db.All(ctx)
	db.Close()
	if err != nil {
		return nil, err
	}
	return seedSet(policy, cp, pkgs)
}

// seedSet lists the cached archives the policy says to seed.
func seedSet(policy string, cp paths.Client, pkgs []catalog.Package) ([]catalog.Package, error) {
	if policy == config.SeedNone {
		return nil, nil
	}
	byArchive := map[string]catalog.Package{}
	for _, p := range pkgs {
		byArchive[p.Archive] = p
	}
	var installed map[string]bool
	if policy == config.SeedInstalled {
		var err error
		if installed, err = installedArchives(cp.Installed()); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(cp.Cache())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read cache: %w", err)
	}
	var out []catalog.Package
	for _, ent := range entries {
		p, ok := byArchive[ent.Name()]
		if !ok || (policy == config.SeedInstalled && !installed[ent.Name()]) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// trimCache keeps the cache within cache_max_size after a download: the
// archives of packages neither installed, nor just downloaded, nor being
// downloaded, nor named by another request in flight or ended within
// requestGrace (req) go, least recently used first, and stop being seeded.
func trimCache(engine *swarm.Engine, cp paths.Client, just []Report, req *requested, max int64, logger *slog.Logger) {
	keep := map[string]bool{}
	for _, r := range just {
		keep[r.Archive] = true
	}
	st, err := state.Load(cp.Installed())
	if err != nil {
		logger.Warn("cache_max_size: cannot read the installed state; not trimming", "err", err)
		return
	}
	for _, r := range st.Sorted() {
		keep[r.Archive] = true
	}
	torrents := engine.Torrents()
	for _, t := range torrents {
		if t.State != "seeding" { // another request's download in progress
			keep[t.Name] = true
		}
	}
	for a := range req.held(time.Now()) {
		keep[a] = true
	}
	removed, err := cache.Trim(cp.Cache(), func(name string) bool {
		return keep[name] || keep[cache.FinalName(name)]
	}, max)
	for _, ih := range torrentsOf(removed, torrents) {
		engine.Drop(ih)
	}
	for _, e := range removed {
		logger.Info("removed from the cache to keep it under cache_max_size", "archive", e.Name, "bytes", e.Disk)
	}
	if err != nil {
		logger.Warn("cache_max_size: trimming the cache failed", "err", err)
	}
}

// torrentsOf returns the torrents whose files were removed: an archive, or
// the ".part" of one still downloading (kept, its torrent would go on
// serving pieces it thinks it has from a file that is gone).
func torrentsOf(removed []cache.Entry, torrents []swarm.TorrentStatus) []swarm.InfoHash {
	byName := map[string]string{}
	for _, t := range torrents {
		byName[t.Name] = t.InfoHash
	}
	var out []swarm.InfoHash
	for _, e := range removed {
		if ih, err := swarm.ParseInfoHash(byName[cache.FinalName(e.Name)]); err == nil {
			out = append(out, ih)
		}
	}
	return out
}

// enforceLimits stops seeding torrents that reached seed_ratio_limit or
// seed_time_limit, checking every policyInterval.
func enforceLimits(ctx context.Context, engine *swarm.Engine, cfg *config.Client, logger *slog.Logger) {
	tick := time.NewTicker(policyInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, ih := range overLimits(engine.Torrents(), cfg, time.Now(), logger) {
			engine.Drop(ih)
		}
	}
}

// overLimits returns the seeding torrents past a limit, logging why.
func overLimits(ts []swarm.TorrentStatus, cfg *config.Client, now time.Time, logger *slog.Logger) []swarm.InfoHash {
	var out []swarm.InfoHash
	for _, t := range ts {
		if t.State != "seeding" {
			continue
		}
		why := ""
		switch {
		case cfg.SeedRatioLimit > 0 && t.Ratio >= cfg.SeedRatioLimit:
			why = fmt.Sprintf("ratio %.2f reached seed_ratio_limit %.2f", t.Ratio, cfg.SeedRatioLimit)
		case cfg.SeedTimeLimit > 0 && !t.Seeding.IsZero() && now.Sub(t.Seeding) >= time.Duration(cfg.SeedTimeLimit):
			why = fmt.Sprintf("seeded %s, seed_time_limit %s", now.Sub(t.Seeding).Round(time.Second), time.Duration(cfg.SeedTimeLimit))
		default:
			continue
		}
		ih, err := swarm.ParseInfoHash(t.InfoHash)
		if err != nil {
			continue
		}
		logger.Info("stopped seeding", "archive", t.Name, "why", why)
		out = append(out, ih)
	}
	return out
}
