package swarm

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOnePeer moves a 256 MiB payload from one unthrottled seeder to
// one leecher over loopback, both engines in this process, and reports the
// download rate and the process's CPU per MiB (user+system, both engines).
// It isolates the engine's path of issue 12 point 3 (one fast peer) from the
// archive's extraction and the commands' start-up that `make bench-fast`
// also measures.
func BenchmarkOnePeer(b *testing.B) {
	const size = 256 << 20
	seedDir := b.TempDir()
	seeder := newEngine(b, seedDir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	meta, _ := seedRandom(b, ctx, seeder, seedDir, "pkg-1.0.0.tar.zst", size)
	var elapsed time.Duration
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		leecher := newEngine(b, b.TempDir(), 0)
		before := processCPU()
		b.StartTimer()
		start := time.Now()
		if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += processCPU() - before
		b.StopTimer()
		leecher.Close()
		b.StartTimer()
	}
	mib := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mib/elapsed.Seconds(), "MiB/s")
	b.ReportMetric(float64(cpu.Milliseconds())/mib, "cpu-ms/MiB")
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSeededTorrentHeap seeds 500 small archives, each naming a
// tracker (which refuses: its announce fails and is recorded), and reports
// the live heap each seeded torrent holds once they settle: what a seeder
// of thousands of packages (a publisher, a mirror) holds per package
// before any peer connects (make bench-many's seeder row measures the
// whole process). Third-party patch 60 and the announce job's status slice
// took it from 11.7 to 10.0 KB when written (three runs each, 2026-12-07).
func BenchmarkSeededTorrentHeap(b *testing.B) {
	const n = 500
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		metas := make([][]byte, n)
		for k := range metas {
			meta, _ := buildArchive(b, dir, fmt.Sprintf("p%03d-1.0.0.tar.zst", k), 4<<10, "http://127.0.0.1:1/announce")
			metas[k] = meta.Torrent
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		before := liveHeap()
		b.StartTimer()
		for _, m := range metas {
			if _, err := e.Seed(ctx, m, true); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		time.Sleep(2 * time.Second) // the first announces fail and are recorded
		b.ReportMetric(float64(liveHeap()-before)/n, "heap-B/torrent")
		cancel()
		e.Close()
	}
}

// liveHeap is the heap's live bytes after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
