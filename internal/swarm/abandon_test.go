package swarm

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestAbandonedDownloadStops: a download whose caller gave up (an install
// interrupted with Ctrl-C, through the daemon) stops: before, the library
// went on downloading the torrent for nobody, and the daemon's status
// showed it downloading until it was complete. What was verified stays,
// and the next download resumes from it. A torrent another caller still
// waits for is not stopped.
func TestAbandonedDownloadStops(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, 512<<10) // 4 MiB take 8 s
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta, ih := seedRandom(t, ctx, seeder, seedDir, "slow-1.0.0.tar.zst", 4<<20)
	direct := []netip.AddrPort{loopback(seeder)}
	leecher := newEngine(t, t.TempDir(), 0)

	uploaded := func() int64 {
		for _, s := range seeder.Torrents() {
			if s.InfoHash == ih.HexString() {
				return s.Uploaded
			}
		}
		return 0
	}
	// Two callers; the first gives up, the second still waits.
	first, stopFirst := context.WithCancel(ctx)
	second, stopSecond := context.WithCancel(ctx)
	firstDone, secondDone := make(chan error, 1), make(chan error, 1)
	megabyte := make(chan struct{})
	var once sync.Once
	go func() {
		firstDone <- leecher.Download(first, meta.Torrent, direct, func(p Progress) {
			if p.Done >= 1<<20 {
				once.Do(func() { close(megabyte) })
			}
		})
	}()
	go func() { secondDone <- leecher.Download(second, meta.Torrent, direct, nil) }()
	select {
	case <-megabyte:
	case <-ctx.Done():
		t.Fatal("the first megabyte never came")
	}
	stopFirst()
	<-firstDone
	if !leecher.Has(ih) {
		t.Fatal("the torrent was dropped while another download of it was running")
	}
	stopSecond()
	<-secondDone
	if leecher.Has(ih) {
		t.Fatal("the torrent is still in the engine after its last download gave up")
	}
	// Nothing moves now: the seeder sends no more of it.
	time.Sleep(500 * time.Millisecond) // what was in flight
	before := uploaded()
	time.Sleep(1500 * time.Millisecond)
	if after := uploaded(); after > before+64<<10 {
		t.Errorf("the seeder sent %d bytes more after the download was abandoned", after-before)
	}
	// The next download resumes.
	if err := leecher.Download(ctx, meta.Torrent, direct, nil); err != nil {
		t.Fatal(err)
	}
	r, ok := leecher.Transfer(ih)
	// At least half of the megabyte seen verified (under -race the last
	// pieces seen may not be on disk yet when the torrent is dropped:
	// 983,040 bytes were once).
	if !ok || r.AlreadyHad < 512<<10 {
		t.Errorf("resumed download's report %+v: want at least 512 KiB already had", r)
	}
}

// TestSecondDownloadEndingLeavesFirst: two Downloads of one torrent; the
// second gives up. The first still runs, so neither abandon nor the
// daemon's periodic DropVanished (nothing written yet) may drop the
// torrent under it. Before, the second's transfer state replaced the
// first's, the first counted as not running once the second ended, and
// DropVanished dropped the torrent the first was waiting on (found by a
// review; with a web-seed fetch that then verified a piece of the dropped
// torrent, the engine froze: third_party patch 32).
func TestSecondDownloadEndingLeavesFirst(t *testing.T) {
	e, metas, _, waitFor := sourcelessDownloads(t, 1)
	defer e.Close()
	m := metas[0]
	ih, _ := ParseInfoHash(m.InfoHash)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- e.Download(ctx, m.Torrent, nil, nil) }()
	waitFor("the first download adds its torrent", func() bool { return e.Has(ih) })
	second, stopSecond := context.WithCancel(ctx)
	secondDone := make(chan error, 1)
	go func() { secondDone <- e.Download(second, m.Torrent, nil, nil) }()
	// Wait until the second counts as a caller: after a fixed sleep, on a
	// loaded machine, it could still be on its way in, be cancelled before
	// it joined, and the test then passed without a second download.
	callers := func() int { e.mu.Lock(); defer e.mu.Unlock(); return e.callers[ih] }
	waitFor("the second download joins the first", func() bool { return callers() == 2 })
	stopSecond()
	<-secondDone
	if !e.Has(ih) {
		t.Fatal("the torrent was dropped when the second download gave up, while the first runs")
	}
	if names := e.DropVanished(); len(names) > 0 || !e.Has(ih) {
		t.Errorf("DropVanished dropped %v while the first download of it runs", names)
	}
	cancel()
	<-first
	if e.Has(ih) {
		t.Error("the torrent is still held after both downloads gave up")
	}
}
