package swarm

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestThrottledSeeder: a seeder capped at 16 MiB/s must deliver a 64 MiB
// payload in about 4 s; it once stalled after a few MiB.
func TestThrottledSeeder(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB at a capped rate")
	}
	const size = 64 << 20
	seedDir, leechDir := t.TempDir(), t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	seeder := newEngine(t, seedDir, 16<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
		t.Fatal(err)
	}
	leecher := newEngine(t, leechDir, 0)
	start := time.Now()
	var last Progress
	err = leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, func(p Progress) { last = p })
	if err != nil {
		t.Fatalf("download: %v after %v; last progress %+v", err, time.Since(start), last)
	}
	t.Logf("%d bytes in %v", size, time.Since(start))
}
