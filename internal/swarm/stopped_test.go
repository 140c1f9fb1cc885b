package swarm

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// stoppedRig is a leecher capped at 256 KiB/s and the torrent of a 1 MiB
// archive that a web seed alone serves.
type stoppedRig struct {
	srvURL  string
	meta    torrentmeta.Meta
	ih      InfoHash
	leecher *Engine
}

const stoppedSize = 1 << 20

func newStoppedRig(t *testing.T) *stoppedRig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	writeRandom(t, path, stoppedSize)
	var sent atomic.Int64
	srv := webSeedServer(t, path, false, false, &sent)
	meta, err := torrentmeta.Build(path, "", srv.URL+"/packages/")
	if err != nil {
		t.Fatal(err)
	}
	ih, err := ParseInfoHash(meta.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
		WebSeedAfter: 100 * time.Millisecond, DownloadRate: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leecher.Close() })
	return &stoppedRig{srvURL: srv.URL, meta: meta, ih: ih, leecher: leecher}
}

// interrupted runs a download until at least until bytes are complete
// (or 10 s), stops it, and returns what Stopped says of it.
func (r *stoppedRig) interrupted(t *testing.T, until int64) Transfer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done atomic.Int64
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for done.Load() < until && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	if err := r.leecher.Download(ctx, r.meta.Torrent, nil, func(p Progress) { done.Store(p.Done) }); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted download: %v", err)
	}
	got, ok := r.leecher.Stopped(r.ih)
	if !ok {
		t.Fatal("Stopped: none after an interrupted download")
	}
	return got
}

// A download interrupted part of the way says what it had received, from
// where (Stopped): an interrupted install's history entry had an empty
// transfer report. A download that completes has its report in Transfer,
// and none in Stopped.
func TestStoppedSaysWhatCame(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	r := newStoppedRig(t)
	if _, ok := r.leecher.Stopped(r.ih); ok {
		t.Fatal("Stopped before any download")
	}
	got := r.interrupted(t, 128<<10)
	const size = stoppedSize
	if got.Total != size || got.FromWebSeed <= 0 || got.FromWebSeed >= size || got.FromSeeder != 0 || got.FromPeers != 0 ||
		len(got.WebSeeds) != 1 || !strings.HasPrefix(r.srvURL, "http://"+got.WebSeeds[0]) || got.FirstByte <= 0 || got.Elapsed < got.FirstByte {
		t.Errorf("Stopped = %+v; want part of %d bytes from the web seed at %s", got, size, r.srvURL)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := r.leecher.Download(ctx2, r.meta.Torrent, nil, nil); err != nil {
		t.Fatal(err)
	}
	if tr, ok := r.leecher.Stopped(r.ih); ok {
		t.Errorf("Stopped after the download completed: %+v", tr)
	}
	if tr, ok := r.leecher.Transfer(r.ih); !ok || tr.Total != size {
		t.Errorf("Transfer after the download completed: %+v, %v", tr, ok)
	}
}

// A download resumed from an interrupted one and interrupted again says
// what it found verified on disk (AlreadyHad), as a completed one does
// (alreadyHad): the library verifies a resumed part file after the
// download started, so the count at the start was 0, and an interrupted
// install's history entry said "already_had_bytes": 0 beside 1.5 MiB
// kept from the run before.
func TestStoppedCountsWhatItResumed(t *testing.T) {
	r := newStoppedRig(t)
	first := r.interrupted(t, 256<<10)
	if first.AlreadyHad != 0 {
		t.Errorf("first download: AlreadyHad %d, want 0", first.AlreadyHad)
	}
	second := r.interrupted(t, 640<<10)
	// The first kept its verified pieces, at least 256 KiB less a piece
	// in flight; the second counts what it found of them.
	if second.AlreadyHad < 128<<10 || second.AlreadyHad > first.FromWebSeed {
		t.Errorf("resumed download: AlreadyHad %d, want what the first kept (it received %d): %+v", second.AlreadyHad, first.FromWebSeed, second)
	}
}
