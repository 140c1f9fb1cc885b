package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/stall"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/units"
)

// fetch makes the seeded set the catalog's packages: withdrawn ones are
// dropped and deleted, an archive already on disk is checked and seeded,
// the others are downloaded over BitTorrent (from the primary's seeder,
// its web seed and any peer; the primaries' own /packages/, as a
// client's servers, below), checked against the catalog's SHA-256,
// seeded and served (AddArchive). It starts no download after until. It
// returns the archive names it has and how many it has not.
func (m *mirror) fetch(ctx context.Context, pkgs []catalog.Package, until time.Time) (have []string, failed int) {
	// The servers followed are web seeds of the archives, whole (a
	// password given for one goes to it alone), in the order the next
	// sync tries them (one that failed last), as a client's server_urls
	// are: a primary behind basic auth names its public_url, without the
	// password, in its torrents, and a mirror asked it for pieces there
	// and got 401, so it had its archives from BitTorrent or not at all.
	m.engine.SetMirrorWebSeeds(swarm.MirrorSeeds(catalogclient.OrderServers(m.opts.Paths.MirrorCatalog(), m.opts.Primary)))
	dir := m.opts.Paths.MirrorArchives()
	want := map[swarm.InfoHash]catalog.Package{}
	wantFile := map[string]bool{}
	for _, p := range pkgs {
		if ih, err := swarm.ParseInfoHash(p.InfoHash); err == nil {
			want[ih] = p
			wantFile[p.Archive] = true
		}
	}
	now := time.Now()
	m.mu.Lock()
	m.corrupt.keep(pkgs)
	var drop []swarm.InfoHash
	for ih := range m.seeding {
		if _, ok := want[ih]; !ok {
			drop = append(drop, ih)
		}
	}
	m.mu.Unlock()
	for _, ih := range drop {
		m.engine.Drop(ih)
		m.mu.Lock()
		delete(m.seeding, ih)
		m.mu.Unlock()
	}
	// Whatever the catalog does not name goes: withdrawn archives and
	// leftovers of earlier runs.
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if !wantFile[cache.FinalName(e.Name())] {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}

	m.mu.Lock()
	room := newDiskRoom(dir, m.catalogSize)
	m.mu.Unlock()
	var (
		mu     sync.Mutex
		noRoom struct { // archives left out for want of disk space; guarded by mu
			n     int
			bytes int64
			first error
		}
	)
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(mirrorDownloads)
	for ih, p := range want {
		m.mu.Lock()
		_, seeded := m.seeding[ih]
		wait := m.corrupt.wait(p, now)
		m.mu.Unlock()
		if seeded {
			mu.Lock()
			have = append(have, p.Archive)
			mu.Unlock()
			continue
		}
		if wait > 0 { // failed its check: not downloaded again yet
			mu.Lock()
			failed++
			mu.Unlock()
			continue
		}
		eg.Go(func() error {
			if time.Now().After(until) { // not tried this round
				mu.Lock()
				failed++
				mu.Unlock()
				return nil
			}
			held, err := room.take(p)
			if err == nil {
				err = m.get(gctx, p)
				room.give(held)
			}
			if err != nil {
				switch {
				case errors.Is(err, errNoRoom):
					mu.Lock()
					noRoom.n++
					noRoom.bytes += p.Size
					if noRoom.first == nil {
						noRoom.first = err
					}
					mu.Unlock()
				case errors.Is(err, errCorrupt):
					m.mu.Lock()
					retry := m.corrupt.failed(p, time.Now(), m.opts.Interval)
					m.mu.Unlock()
					m.log.Error("archive fails the catalog's check; not downloading it again until the backoff ends or the catalog's row changes",
						"package", p.ID(), "archive", p.Archive, "primary", strings.Join(m.info.MirrorOf, " "), "infohash", p.InfoHash, "err", err, "retry_in", retry)
				case gctx.Err() == nil:
					m.log.Error("cannot mirror package; will retry", "package", p.ID(), "err", err)
				}
				mu.Lock()
				failed++
				mu.Unlock()
				return nil
			}
			m.mu.Lock()
			m.seeding[ih] = p
			m.corrupt.ok(p)
			m.mu.Unlock()
			m.catsrv.AddArchive(p.Archive)
			mu.Lock()
			have = append(have, p.Archive)
			mu.Unlock()
			return nil
		})
	}
	eg.Wait()
	if noRoom.n > 0 {
		// One line a round: a catalog of 10,000 archives that do not fit
		// would log 10,000 otherwise.
		m.log.Error("not enough disk space to mirror every archive; will retry", "archives", noRoom.n, "bytes", units.FormatBytes(noRoom.bytes), "err", noRoom.first)
	}
	return have, failed
}

// get has one package's archive verified in the archives folder and
// seeded.
func (m *mirror) get(ctx context.Context, p catalog.Package) error {
	path := filepath.Join(m.opts.Paths.MirrorArchives(), p.Archive)
	if p.VerifyFile(path) == nil { // from an earlier run
		_, err := m.engine.Seed(ctx, p.Torrent, false)
		return err
	}
	start := time.Now()
	// The bytes count as they come (Sources: a web seed's before its
	// piece is whole) and must come at stall.MinRate at least, and a
	// stall says what each source did since the last progress: the log
	// said "no progress for 2m0s from any peer or web seed", naming none
	// of them, and a web seed slower than a piece per 2 minutes counted
	// as none.
	after := m.opts.stallTimeout()
	watch := stall.New(ctx, after, swarm.ErrStalled)
	watch.Floor(max(1, int64(stall.MinRate*after.Seconds())))
	defer watch.Stop()
	var (
		smu sync.Mutex
		win swarm.StallWindow // guarded by smu
	)
	err := m.engine.Download(watch.Context(), p.Torrent, torrentmeta.Seeders(p.Magnet), func(pr swarm.Progress) {
		smu.Lock()
		defer smu.Unlock()
		win.Sources(pr.Sources)
		win.Progress(watch, pr.Done)
	})
	if err != nil {
		if err = watch.Explain(err); errors.Is(err, swarm.ErrStalled) {
			smu.Lock()
			err = win.Err(after, stall.MinRate)
			smu.Unlock()
		}
		return err
	}
	if err := p.VerifyFile(path); err != nil {
		if ih, perr := swarm.ParseInfoHash(p.InfoHash); perr == nil {
			m.engine.Drop(ih)
		}
		os.Remove(path)
		// From the torrent's sources: the primary's seeder and web seed,
		// and any peer its trackers gave. Only a mismatch backs off: a
		// file it could not read (too many open files, an I/O error) is
		// tried again next round.
		if errors.Is(err, catalog.ErrMismatch) {
			return fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return err
	}
	m.log.Info("archive mirrored", "package", p.ID(), "bytes", p.Size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// dropDamaged deletes the mirror's copies the engine stopped seeding
// because they changed on disk and no longer match their torrents
// (swarm.RecheckLoop), so that the next round downloads them again from
// the primary: a copy is the mirror's own, and a damaged one, seeded on,
// reached every client until a restart.
func (m *mirror) dropDamaged(damaged []swarm.Damaged) {
	for _, d := range damaged {
		path := filepath.Join(m.opts.Paths.MirrorArchives(), d.Name)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.log.Error("cannot remove a damaged copy", "archive", path, "err", err)
		}
		m.mu.Lock()
		if _, ok := m.seeding[d.InfoHash]; ok {
			delete(m.seeding, d.InfoHash)
			m.failures++
		}
		m.mu.Unlock()
	}
}
