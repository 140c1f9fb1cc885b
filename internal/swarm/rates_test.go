package swarm

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// A download's rate shows at the first look: the sampler started at that
// first Torrents call, so the first dist-client status of a daemon read
// 0 B/s for every torrent while it downloaded at 1 MiB/s.
func TestFirstStatusHasRates(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	if testing.Short() {
		t.Skip("a capped download of a few seconds")
	}
	const rate = 512 << 10
	seedDir := t.TempDir()
	seeder := newEngine(t, seedDir, rate)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta, _ := seedRandom(t, ctx, seeder, seedDir, "pkg-1.0.0.tar.zst", 4<<20) // 8 s at the cap
	leecher := newEngine(t, t.TempDir(), 0)
	dlCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- leecher.Download(dlCtx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil) }()
	defer func() { stop(); <-done }()

	// Two sampling windows and a bit into the transfer, nothing asked yet.
	time.Sleep(2*rateWindow + 500*time.Millisecond)
	ts := leecher.Torrents()
	if len(ts) != 1 {
		t.Fatalf("leecher has %d torrents, want 1: %+v", len(ts), ts)
	}
	if ts[0].State != "downloading" {
		t.Fatalf("the download ended before the first look (%s, %d of %d bytes): the cap does not hold it", ts[0].State, ts[0].Done, ts[0].Size)
	}
	if ts[0].DownRate <= 0 {
		t.Errorf("first look at a download under way (%d of %d bytes): download rate %.0f B/s, want above 0", ts[0].Done, ts[0].Size, ts[0].DownRate)
	}
	if up := seeder.Torrents(); len(up) != 1 || up[0].UpRate <= 0 {
		t.Errorf("first look at the seeder sending it: %+v, want an upload rate above 0", up)
	}
}
