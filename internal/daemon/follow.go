package daemon

// What the daemon seeds as the world changes under it: it stops seeding
// packages the synced catalog no longer lists, archives deleted from the
// cache (dist-client clean) (and, swarm.RecheckLoop, those changed there
// that no longer match their torrents; an install checks a cached archive
// again before it uses it) and, with seed: installed, packages no longer
// installed, and starts seeding packages installed from the cache without
// it, and with seed: cached archives cached without it.

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
)

// followCatalog stops seeding, every policyInterval, what the synced
// catalog no longer lists: a package its publisher withdrew was seeded on
// until the daemon restarted, its announces refused by the tracker. The
// catalog is read again only when its serial changes. With installed (seed:
// installed) it also stops seeding the archives that were installed at its
// last look and are not now: a package uninstalled, or upgraded away from,
// was seeded on until the daemon restarted. An archive never seen installed
// (downloaded for an install not yet committed, or one that failed) is left
// alone. An archive installed since its last look that is not seeded (a
// reinstall from the cache does not go through the daemon) is seeded. With
// cached (seed: cached), an archive come into the cache since its last look
// that is not seeded is seeded: an install that downloaded with an engine of
// its own while the daemon started (with peer_addr ":0" the two share no
// port, so the daemon does not wait for it) left what it downloaded
// unshared until the daemon restarted.
func followCatalog(ctx context.Context, f *follower) {
	tick := time.NewTicker(policyInterval)
	defer tick.Stop()
	f.start()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f.look(ctx)
	}
}

// follower is what followCatalog keeps from one look to the next; its
// fields are used by that one goroutine only.
type follower struct {
	engine     *swarm.Engine
	catalogDir string
	// installed lists the installed packages' archives (seed: installed);
	// nil with the other policies.
	installed func() (map[string]bool, error)
	// cached lists the complete archives in the cache (seed: cached); nil
	// with the other policies.
	cached func() (map[string]bool, error)
	// firstCatalog seeds the cache once a first catalog is synced and says
	// whether there was one; nil when the daemon started with a catalog.
	firstCatalog func(context.Context) bool
	logger       *slog.Logger

	serial       int64           // the catalog's serial at the last look
	before       map[string]bool // installed at the last look
	cachedBefore map[string]bool // in the cache at the last look
}

// start records what is installed, or cached, as the daemon starts.
func (f *follower) start() {
	var err error
	if f.installed != nil {
		if f.before, err = f.installed(); err != nil {
			f.logger.Warn("cannot read the installed packages to follow uninstalls", "err", err)
		}
	}
	if f.cached != nil {
		if f.cachedBefore, err = f.cached(); err != nil {
			f.logger.Warn("cannot read the cache to follow its archives", "err", err)
		}
	}
}

// look is one of followCatalog's looks.
func (f *follower) look(ctx context.Context) {
	if f.firstCatalog != nil && f.firstCatalog(ctx) {
		f.firstCatalog = nil
	}
	ts := f.engine.Torrents()
	var drop []swarm.InfoHash
	var err error
	if drop, f.serial, err = unlisted(ctx, ts, f.catalogDir, f.serial, f.logger); err != nil {
		f.logger.Warn("cannot read the catalog to follow withdrawn packages", "err", err)
	}
	if f.installed != nil {
		if now, err := f.installed(); err != nil {
			f.logger.Warn("cannot read the installed packages to follow uninstalls", "err", err)
		} else {
			drop = append(drop, uninstalledSince(f.before, now, ts, f.logger)...)
			seedArchives(ctx, f.engine, f.catalogDir, unseededSince(f.before, now, ts), "installed (seed: installed)", f.logger)
			f.before = now
		}
	}
	if f.cached != nil {
		if now, err := f.cached(); err != nil {
			f.logger.Warn("cannot read the cache to follow its archives", "err", err)
		} else {
			seedArchives(ctx, f.engine, f.catalogDir, unseededSince(f.cachedBefore, now, ts), "cached since the last look, not through the daemon (seed: cached)", f.logger)
			f.cachedBefore = now
		}
	}
	for _, ih := range drop {
		f.engine.Drop(ih)
	}
	f.engine.DropVanished() // archives dist-client clean (or a user) deleted
}

// cachedArchives is the names of the complete archives in the cache dir:
// its regular files but the partial downloads.
func cachedArchives(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := make(map[string]bool, len(entries))
	for _, ent := range entries {
		if ent.Type().IsRegular() && !cache.IsPart(ent.Name()) {
			out[ent.Name()] = true
		}
	}
	return out, nil
}

// unseededSince returns the archives listed now and not at the last look
// (before) that the engine does not hold, so does not seed: of the
// installed archives (seed: installed), one installed from the cache
// without a download through the daemon (a reinstall after an
// uninstall); of the cache's (seed: cached), one an install downloaded
// with an engine of its own.
func unseededSince(before, now map[string]bool, ts []swarm.TorrentStatus) []string {
	held := make(map[string]bool, len(ts))
	for _, t := range ts {
		held[t.Name] = true
	}
	var out []string
	for a := range now {
		if !before[a] && !held[a] {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// seedArchives seeds the cached archives named, after verifying them,
// with the torrents the synced catalog gives them, logging why; an archive
// not cached, not in the catalog or failing verification is skipped with a
// log line.
func seedArchives(ctx context.Context, engine *swarm.Engine, catalogDir string, archives []string, why string, logger *slog.Logger) {
	if len(archives) == 0 {
		return
	}
	db, err := catalogclient.Open(ctx, catalogDir)
	if err != nil {
		logger.Warn("cannot read the catalog to seed archives", "why", why, "err", err)
		return
	}
	pkgs, err := db.All(ctx)
	db.Close()
	if err != nil {
		logger.Warn("cannot read the catalog to seed archives", "why", why, "err", err)
		return
	}
	byArchive := make(map[string][]byte, len(pkgs))
	for _, p := range pkgs {
		byArchive[p.Archive] = p.Torrent
	}
	for _, a := range archives {
		torrent, ok := byArchive[a]
		if !ok {
			continue // withdrawn: nothing to announce it with
		}
		if _, err := engine.Seed(ctx, torrent, true); err != nil {
			logger.Info("not seeding", "archive", a, "why", why, "err", err)
			continue
		}
		logger.Info("seeding", "archive", a, "why", why)
	}
}

// seedFirstCatalog seeds the cached archives policy names (seed: cached,
// or installed) once a catalog is synced, and reports whether there was one to read. A
// daemon started before the first sync seeds nothing at its start, no
// catalog giving the cached archives their torrents, and seeded them only
// after a restart: a cache filled beforehand (a provisioned image, a
// catalog folder removed to sync afresh) was not shared meanwhile.
// Archives the engine holds already (downloaded through it since) are
// left as they are.
func seedFirstCatalog(ctx context.Context, engine *swarm.Engine, policy string, cp paths.Client, logger *slog.Logger) bool {
	pkgs, err := toSeed(ctx, policy, cp)
	if errors.Is(err, catalogclient.ErrNoCatalog) {
		return false
	}
	if err != nil {
		logger.Warn("cannot read the catalog to seed the cached archives", "err", err)
		return false
	}
	held := map[string]bool{}
	for _, t := range engine.Torrents() {
		held[t.InfoHash] = true
	}
	for _, p := range pkgs {
		if held[p.InfoHash] {
			continue
		}
		if _, err := engine.Seed(ctx, p.Torrent, true); err != nil {
			logger.Info("not seeding a cached archive", "archive", p.Archive, "err", err)
			continue
		}
		logger.Info("seeding", "archive", p.Archive, "why", "in the cache when the first catalog was synced (seed: "+policy+")")
	}
	return true
}

// installedArchives is the archives of the installed packages recorded at
// path.
func installedArchives(path string) (map[string]bool, error) {
	st, err := state.Load(path)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range st.Sorted() {
		out[r.Archive] = true
	}
	return out, nil
}

// uninstalledSince returns the seeding torrents whose archive was installed
// before and is not now, logging each.
func uninstalledSince(before, now map[string]bool, ts []swarm.TorrentStatus, logger *slog.Logger) []swarm.InfoHash {
	var out []swarm.InfoHash
	for _, t := range ts {
		if !before[t.Name] || now[t.Name] || t.State != "seeding" {
			continue
		}
		if ih, err := swarm.ParseInfoHash(t.InfoHash); err == nil {
			logger.Info("stopped seeding", "archive", t.Name, "why", "no longer installed (seed: installed)")
			out = append(out, ih)
		}
	}
	return out
}

// unlisted returns the seeding torrents that the catalog in dir does not
// list, logging each, and the catalog's serial (the one seen before while
// an unlisted torrent is still downloading, so it is looked at again); none
// when the serial is still seen.
func unlisted(ctx context.Context, ts []swarm.TorrentStatus, dir string, seen int64, logger *slog.Logger) ([]swarm.InfoHash, int64, error) {
	db, err := catalogclient.Open(ctx, dir)
	if errors.Is(err, catalogclient.ErrNoCatalog) {
		return nil, seen, nil // not synced yet: nothing was withdrawn
	}
	if err != nil {
		return nil, seen, err
	}
	defer db.Close()
	meta, err := db.Meta(ctx)
	if err != nil || meta.Serial == seen {
		return nil, seen, err
	}
	pkgs, err := db.All(ctx)
	if err != nil {
		return nil, seen, err
	}
	listed := make(map[string]bool, len(pkgs))
	for _, p := range pkgs {
		listed[p.InfoHash] = true
	}
	var out []swarm.InfoHash
	skipped := false
	for _, t := range ts {
		if listed[t.InfoHash] {
			continue
		}
		if t.State != "seeding" { // still downloading: looked at again next time
			skipped = true
			continue
		}
		if ih, err := swarm.ParseInfoHash(t.InfoHash); err == nil {
			logger.Info("stopped seeding", "archive", t.Name, "why", "the catalog no longer lists it (withdrawn by its publisher)", "serial", meta.Serial)
			out = append(out, ih)
		}
	}
	if skipped {
		return out, seen, nil
	}
	return out, meta.Serial, nil
}
