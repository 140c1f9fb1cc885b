package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/swarm"
)

// Trimming the cache drops the torrent of every file it removed, a
// download's ".part" included, and no other.
func TestTorrentsOfRemoved(t *testing.T) {
	const a, b, c = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333"
	torrents := []swarm.TorrentStatus{
		{InfoHash: a, Name: "a-1.0.0.tar.zst"},
		{InfoHash: b, Name: "b-1.0.0.tar.zst"},
		{InfoHash: c, Name: "c-1.0.0.tar.zst"},
	}
	removed := []cache.Entry{{Name: "a-1.0.0.tar.zst"}, {Name: "b-1.0.0.tar.zst.part"}, {Name: "gone-1.0.0.tar.zst"}}
	got := torrentsOf(removed, torrents)
	want := []string{a, b}
	if len(got) != len(want) {
		t.Fatalf("torrentsOf = %v, want %v", got, want)
	}
	for i, ih := range got {
		if ih.HexString() != want[i] {
			t.Errorf("torrentsOf[%d] = %s, want %s", i, ih.HexString(), want[i])
		}
	}
}

// What the synced catalog no longer lists (a package its publisher
// withdrew) stops being seeded: the daemon seeded it on until restarted (a
// newcomer's run). Torrents still downloading are left alone, and the
// catalog is read again only when its serial changes.
func TestUnlistedStopsSeeding(t *testing.T) {
	dir := t.TempDir()
	row := writeCatalog(t, dir, "http://127.0.0.1:1/announce")
	const gone, busy = "2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333"
	torrents := []swarm.TorrentStatus{
		{InfoHash: row.InfoHash, Name: row.Archive, State: "seeding"},
		{InfoHash: gone, Name: "gone-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: busy, Name: "new-2.0.0.tar.zst", State: "downloading"},
	}
	logs := &buftest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	drop, serial, err := unlisted(context.Background(), torrents, dir, 0, logger)
	if err != nil || serial != 0 || len(drop) != 1 || drop[0].HexString() != gone {
		t.Fatalf("unlisted = %v, serial %d, %v; want only %s, and the serial not taken as seen (one still downloading)", drop, serial, err, gone)
	}
	if !strings.Contains(logs.String(), "archive=gone-1.0.0.tar.zst") || !strings.Contains(logs.String(), "no longer lists it") {
		t.Errorf("log: %s", logs)
	}
	// The download finished: it goes too, and the serial is seen.
	torrents = []swarm.TorrentStatus{torrents[0], {InfoHash: busy, Name: "new-2.0.0.tar.zst", State: "seeding"}}
	drop, serial, err = unlisted(context.Background(), torrents, dir, serial, logger)
	if err != nil || serial == 0 || len(drop) != 1 || drop[0].HexString() != busy {
		t.Fatalf("unlisted = %v, serial %d, %v; want only %s, and the catalog's serial", drop, serial, err, busy)
	}
	if drop, _, err := unlisted(context.Background(), torrents, dir, serial, logger); err != nil || len(drop) != 0 {
		t.Fatalf("the same serial again: %v, %v; want nothing", drop, err)
	}
	// Before the first sync there is no catalog: nothing was withdrawn,
	// and nothing to warn of every 15 s.
	if drop, serial, err := unlisted(context.Background(), torrents, t.TempDir(), 0, logger); err != nil || len(drop) != 0 || serial != 0 {
		t.Fatalf("no catalog yet: %v, serial %d, %v; want nothing, no error", drop, serial, err)
	}
}

// With seed: installed, an archive installed at the daemon's last look and
// not now (uninstalled, or upgraded away from) stops being seeded; it was
// seeded until the daemon restarted. One never seen installed (downloaded
// for an install not yet committed) and one still downloading stay.
func TestUninstalledStopsSeeding(t *testing.T) {
	const kept, gone, pending, busy = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222",
		"3333333333333333333333333333333333333333", "4444444444444444444444444444444444444444"
	torrents := []swarm.TorrentStatus{
		{InfoHash: kept, Name: "kept-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: gone, Name: "gone-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: pending, Name: "new-1.0.0.tar.zst", State: "seeding"},
		{InfoHash: busy, Name: "busy-1.0.0.tar.zst", State: "downloading"},
	}
	before := map[string]bool{"kept-1.0.0.tar.zst": true, "gone-1.0.0.tar.zst": true, "busy-1.0.0.tar.zst": true}
	now := map[string]bool{"kept-1.0.0.tar.zst": true}
	logs := &buftest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	drop := uninstalledSince(before, now, torrents, logger)
	if len(drop) != 1 || drop[0].HexString() != gone {
		t.Fatalf("uninstalledSince = %v, want only %s", drop, gone)
	}
	if !strings.Contains(logs.String(), "archive=gone-1.0.0.tar.zst") || !strings.Contains(logs.String(), "no longer installed") {
		t.Errorf("log: %s", logs)
	}
	// The next look finds nothing new: the pending archive was never installed.
	if drop := uninstalledSince(now, now, torrents, logger); len(drop) != 0 {
		t.Errorf("the same installed set again: %v, want nothing", drop)
	}
	// A missing state file is nothing installed, not an error.
	if got, err := installedArchives(filepath.Join(t.TempDir(), "installed.db")); err != nil || len(got) != 0 {
		t.Errorf("installedArchives of no state = %v, %v", got, err)
	}
}

// An archive listed since the last look (installed, or cached) and not
// held by the engine (a reinstall from the cache, which does not go
// through the daemon) is to be seeded; one held already, or listed
// before, is not.
func TestUnseededSince(t *testing.T) {
	before := map[string]bool{"old-1.0.0.tar.zst": true}
	now := map[string]bool{"old-1.0.0.tar.zst": true, "b-1.0.0.tar.zst": true, "a-1.0.0.tar.zst": true, "held-1.0.0.tar.zst": true}
	ts := []swarm.TorrentStatus{{InfoHash: "1111111111111111111111111111111111111111", Name: "held-1.0.0.tar.zst", State: "seeding"}}
	if got, want := unseededSince(before, now, ts), []string{"a-1.0.0.tar.zst", "b-1.0.0.tar.zst"}; !slices.Equal(got, want) {
		t.Errorf("unseededSince = %v, want %v", got, want)
	}
	if got := unseededSince(now, now, nil); len(got) != 0 {
		t.Errorf("nothing new: %v", got)
	}
}

// A daemon started before the first sync seeds what its cache holds once a
// catalog is synced (seed: cached): it seeded nothing until a restart. The
// archive an install has fetched through it meanwhile is left as it is.
func TestFirstCatalogSeedsTheCache(t *testing.T) {
	ctx := context.Background()
	cp := paths.Client{Dir: t.TempDir()}
	if err := os.MkdirAll(cp.Cache(), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	foo := archiveRow(t, work, "foo", bytes.Repeat([]byte("distpac foo"), 8<<10), "http://127.0.0.1:1/announce")
	bar := archiveRow(t, work, "bar", bytes.Repeat([]byte("distpac bar"), 8<<10), "http://127.0.0.1:1/announce")
	for _, r := range []catalog.Package{foo, bar} {
		b, err := os.ReadFile(filepath.Join(work, r.Archive))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp.Cache(), r.Archive), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	engine, err := swarm.New(swarm.Config{Dir: cp.Cache(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	logger := slog.New(slog.DiscardHandler)
	if seedFirstCatalog(ctx, engine, config.SeedCached, cp, logger) || len(engine.Torrents()) != 0 {
		t.Fatalf("no catalog yet: seeded %v", engine.Torrents())
	}
	if _, err := engine.Seed(ctx, bar.Torrent, true); err != nil { // fetched through the daemon since
		t.Fatal(err)
	}
	writeRows(t, cp.Dir, []catalog.Package{foo, bar})
	if !seedFirstCatalog(ctx, engine, config.SeedCached, cp, logger) {
		t.Fatal("the catalog synced was not read")
	}
	var seeding []string
	for _, ts := range engine.Torrents() {
		if ts.State == "seeding" {
			seeding = append(seeding, ts.Name)
		}
	}
	slices.Sort(seeding)
	if want := []string{bar.Archive, foo.Archive}; !slices.Equal(seeding, want) {
		t.Errorf("seeding %v, want %v", seeding, want)
	}
}

// With seed: cached, an archive that comes into the cache while the daemon
// runs, not through it, is seeded at the next look: an install that
// downloaded with an engine of its own (the daemon, with peer_addr ":0",
// started in the middle of it) left it unshared until the daemon
// restarted (a newcomer's run: "0 torrents" 35 s after that install). One
// in the cache at the last look and not seeded (stopped at a seed limit,
// or failing verification) stays so, and a partial download is left alone.
func TestCachedSinceSeeded(t *testing.T) {
	ctx := context.Background()
	cp := paths.Client{Dir: t.TempDir()}
	if err := os.MkdirAll(cp.Cache(), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	old := archiveRow(t, work, "old", bytes.Repeat([]byte("distpac old"), 8<<10), "http://127.0.0.1:1/announce")
	arrived := archiveRow(t, work, "arrived", bytes.Repeat([]byte("distpac arrived"), 8<<10), "http://127.0.0.1:1/announce")
	half := archiveRow(t, work, "half", bytes.Repeat([]byte("distpac half"), 8<<10), "http://127.0.0.1:1/announce")
	writeRows(t, cp.Dir, []catalog.Package{old, arrived, half})
	put := func(r catalog.Package, name string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(work, r.Archive))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp.Cache(), name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(old, old.Archive) // there at the start, its seeding stopped since
	engine, err := swarm.New(swarm.Config{Dir: cp.Cache(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	logs := &buftest.Buffer{}
	f := &follower{engine: engine, catalogDir: cp.Dir, cached: func() (map[string]bool, error) { return cachedArchives(cp.Cache()) },
		logger: slog.New(slog.NewTextHandler(logs, nil))}
	f.start()
	put(arrived, arrived.Archive)           // an install's own engine finished it
	put(half, cache.PartName(half.Archive)) // one still downloading
	f.look(ctx)
	var seeding []string
	for _, ts := range engine.Torrents() {
		if ts.State == "seeding" {
			seeding = append(seeding, ts.Name)
		}
	}
	if want := []string{arrived.Archive}; !slices.Equal(seeding, want) {
		t.Fatalf("seeding %v, want %v (log: %s)", seeding, want, logs)
	}
	if !strings.Contains(logs.String(), "archive="+arrived.Archive) {
		t.Errorf("no log line names %s: %s", arrived.Archive, logs)
	}
}
