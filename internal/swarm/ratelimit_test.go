package swarm

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestRateLimitsHold moves data through a capped engine for a 10 s window
// and checks that it never goes more than 5 % over its cap. (A loaded
// machine can go slower, so the lower side is only reported.)
func TestRateLimitsHold(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s rate measurements")
	}
	const rate = 512 << 10
	for _, tt := range []struct {
		name     string
		up, down int64
	}{
		{"upload cap on the seeder", rate, 0},
		{"download cap on the leecher", 0, rate},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			measureRate(t, tt.up, tt.down, rate)
		})
	}
}

func measureRate(t *testing.T, up, down int64, rate float64) {
	seedDir, leechDir := t.TempDir(), t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 8<<20) // more than 10 s at the cap
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	seeder, err := New(Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", UploadRate: up, DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
		t.Fatal(err)
	}
	leecher, err := New(Config{Dir: leechDir, ListenAddr: "127.0.0.1:0", DownloadRate: down, DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	dlCtx, stop := context.WithCancel(ctx)
	defer stop()
	go leecher.Download(dlCtx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil)

	// Skip the first second (connection set-up and the limiter's burst),
	// then measure ten.
	time.Sleep(time.Second)
	// Count at the capped side: bytes written by the seeder include what
	// waits in the kernel's socket buffers, which a capped reader has not
	// taken yet.
	moved := func() int64 {
		if down > 0 {
			return leecher.Stats().Downloaded
		}
		return seeder.Stats().Uploaded
	}
	start, t0 := moved(), time.Now()
	time.Sleep(10 * time.Second)
	sent, elapsed := moved()-start, time.Since(t0)
	got := float64(sent) / elapsed.Seconds()
	t.Logf("cap %.0f B/s, measured %.0f B/s over %v (%.1f%% of the cap)", rate, got, elapsed.Round(time.Millisecond), 100*got/rate)
	if got > rate*1.05 {
		t.Fatalf("moved %.0f B/s, more than 5%% over the cap of %.0f B/s", got, rate)
	}
}
