package swarm

import (
	"context"
	"net/netip"
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
