package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/swarm/peertest"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestTinyRequestBudgetDoesNotDeadlock: with a request budget of four
// chunks, far below what one leecher queues (64 chunks), an 8 MiB
// download finishes. The library picked queued requests at random and
// waited for one whose reservation was not granted while granted ones
// stayed unread: with its per-connection allowance below a peer's queue it
// deadlocked (ANACROLIX.md: 1 MiB hung 9 of 9 64 MiB downloads).
func TestTinyRequestBudgetDoesNotDeadlock(t *testing.T) {
	seedDir, leechDir := t.TempDir(), t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 8<<20)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	seeder, err := New(Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, RequestBudget: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
		t.Fatal(err)
	}
	leecher := newEngine(t, leechDir, 0)
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
		t.Fatalf("download under a 64 KiB budget: %v", err)
	}
	t.Logf("8 MiB under a 64 KiB request budget in %v", time.Since(start))
}

// TestHoardersStayWithinBudget: 50 connections per torrent, on four 16 MiB
// torrents, each request every block and never read. The library held
// 16 MiB per connection: 3.2 GB here. With one budget the seeder's heap
// stays under DefaultRequestBudget, an honest leecher of a fifth package
// downloads at once beside them, and the hoarders are dropped once their
// writes stall for peerWriteTimeout.
func TestHoardersStayWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB of payload")
	}
	seedDir := t.TempDir()
	// As dist-server without an upload cap: 50 peers a torrent.
	seeder, err := New(Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, PeersPerTorrent: UncappedPublisherPeers})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type pkg struct {
		meta torrentmeta.Meta
		ih   [20]byte
	}
	var pkgs []pkg
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		meta, ih := seedRandom(t, ctx, seeder, seedDir, name+"-1.0.0.tar.zst", 16<<20)
		pkgs = append(pkgs, pkg{meta, ih})
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	debug.SetGCPercent(50)
	defer debug.SetGCPercent(100)

	addr := loopback(seeder).String()
	var peak uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	for _, p := range pkgs[:4] {
		for range 50 {
			h, err := peertest.Hoard(ctx, addr, p.ih, 256, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
		}
		sample()
	}
	// Give the seeder time to read ahead all it agreed to queue.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		sample()
	}
	// An honest leecher still gets a package.
	leecher := newEngine(t, t.TempDir(), 0)
	dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	defer dcancel()
	start := time.Now()
	if err := leecher.Download(dctx, pkgs[4].meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
		t.Fatalf("honest download beside 200 hoarders: %v", err)
	}
	took := time.Since(start)
	sample()
	grew := int64(peak) - int64(before.HeapInuse)
	t.Logf("heap in use: %d MiB before, peak %d MiB under 200 hoarders (the leecher shares this process); the honest 16 MiB took %v",
		before.HeapInuse>>20, peak>>20, took.Round(time.Millisecond))
	if grew > DefaultRequestBudget+32<<20 {
		t.Fatalf("heap grew by %d MiB under 200 hoarding connections; the budget is %d MiB", grew>>20, DefaultRequestBudget>>20)
	}
}

// TestHoarderIsDropped: a peer that stops reading is disconnected once
// its writes stall for peerWriteTimeout, which frees what was read for it.
func TestHoarderIsDropped(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	if testing.Short() {
		t.Skip("waits for the write timeout")
	}
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	path := filepath.Join(seedDir, "a-1.0.0.tar.zst")
	writeRandom(t, path, 16<<20)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ih, err := seeder.Seed(ctx, meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := peertest.Hoard(ctx, loopback(seeder).String(), ih, 256, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	start := time.Now()
	deadline := start.Add(peerWriteTimeout + 15*time.Second)
	for seeder.Stats().Peers > 0 || time.Since(start) < time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("the hoarder is still connected after %v", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("hoarder dropped after %v", time.Since(start).Round(100*time.Millisecond))
}

// A peer asking for zero-length blocks cannot stop the seeder, and a
// leecher still gets the package afterwards. A tried change (reading the
// adjacent chunks a peer queued with one read) walked back from such a
// request to itself forever, holding the engine's lock; this holds any
// such change to it.
func TestZeroLengthRequestsDoNotStopSeeder(t *testing.T) {
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	path := filepath.Join(seedDir, "z-1.0.0.tar.zst")
	data := writeRandom(t, path, 1<<20)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ih, err := seeder.Seed(ctx, meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := peertest.Request(ctx, loopback(seeder).String(), ih, [][3]uint32{{0, 0, 0}, {0, 16 << 10, 0}, {1, 32 << 10, 0}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	leechDir := t.TempDir()
	leecher := newEngine(t, leechDir, 0)
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
		t.Fatalf("download after zero-length requests: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(leechDir, "z-1.0.0.tar.zst"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
}
