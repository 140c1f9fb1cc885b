package swarm

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

func writeRandom(t testing.TB, path string, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// seedRandom writes size random bytes to dir/name, builds its torrent and
// has e seed it (verified).
func seedRandom(t testing.TB, ctx context.Context, e *Engine, dir, name string, size int) (torrentmeta.Meta, InfoHash) {
	t.Helper()
	path := filepath.Join(dir, name)
	writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ih, err := e.Seed(ctx, meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	return meta, ih
}

// buildArchive writes size random bytes to dir/name and builds its
// torrent, announcing to announce ("" for no tracker).
func buildArchive(t testing.TB, dir, name string, size int, announce string) (torrentmeta.Meta, InfoHash) {
	t.Helper()
	path := filepath.Join(dir, name)
	writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, announce, "")
	if err != nil {
		t.Fatal(err)
	}
	ih, err := ParseInfoHash(meta.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	return meta, ih
}

func loopback(e *Engine) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(e.Port()))
}

// A waiting test, one that spends its time on timers (a give-up timeout,
// a capped rate, a peer or web seed that stalls on purpose) and under a
// second of CPU for its 4-22 s under -race, calls t.Parallel so that its
// waits overlap with the others'. Tests that burn CPU (big or many
// transfers, 8-client swarms) or read process-wide state (runtime.MemStats,
// verifiedBytes, the write-stall guard) do not: Go runs them first, one at
// a time, and starts the parallel ones only after every other top-level
// test of the package has ended.

func newEngine(t testing.TB, dir string, up int64) *Engine {
	t.Helper()
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", UploadRate: up, DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestDownloadFromSeeder moves payloads of several sizes from one seeder to
// a leecher, byte for byte. The 64 MiB case guards the upload deadlock that
// the library's default MaxAllocPeerRequestDataPerConn causes; the capped
// one the lost wake-up in the library's writer (it stopped after 16 MiB;
// third_party/anacrolix-torrent carries the fix).
func TestDownloadFromSeeder(t *testing.T) {
	tests := []struct {
		size int
		up   int64 // seeder upload cap, 0 = none
		long bool  // skipped with -short
	}{
		{1, 0, false},
		{64 << 10, 0, false},
		{3<<20 + 5, 0, false},
		{64 << 20, 0, true},
		{64 << 20, 16 << 20, true},
	}
	for _, tt := range tests {
		size := tt.size
		name := sizeName(size)
		if tt.up > 0 {
			name += "-capped-" + sizeName(int(tt.up)) + "ps"
		}
		t.Run(name, func(t *testing.T) {
			if tt.long && testing.Short() {
				t.Skip("large payload")
			}
			seedDir, leechDir := t.TempDir(), t.TempDir()
			path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
			data := writeRandom(t, path, size)
			meta, err := torrentmeta.Build(path, "", "")
			if err != nil {
				t.Fatal(err)
			}
			seeder := newEngine(t, seedDir, tt.up)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
				t.Fatal(err)
			}
			leecher := newEngine(t, leechDir, 0)
			start := time.Now()
			var last Progress
			err = leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, func(p Progress) { last = p })
			if err != nil {
				t.Fatalf("download of %d bytes: %v", size, err)
			}
			t.Logf("%d bytes in %v", size, time.Since(start))
			if last.Done != int64(size) || last.Total != int64(size) {
				t.Fatalf("last progress %+v, want %d of %d", last, size, size)
			}
			got, err := os.ReadFile(filepath.Join(leechDir, "pkg-1.0.0.tar.zst"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs from the seeded one")
			}
		})
	}
}

// TestSeedRefusesCorruptFile: a full-size file with a flipped byte must not
// be seeded as complete.
func TestSeedRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, 200<<10)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, dir, 0)
	if _, err := e.Seed(context.Background(), meta.Torrent, true); err == nil {
		t.Fatal("Seed accepted a corrupt payload")
	}
}

// TestVerifyPayloadReusedBuffer: verifyPayload's piece buffer, kept
// between torrents (verifyBuffers), never lets a piece pass on what an
// earlier, larger torrent left in it: a file whose last piece is short and
// corrupt is refused after files of every size verified clean.
func TestVerifyPayloadReusedBuffer(t *testing.T) {
	dir := t.TempDir()
	build := func(name string, size int) ([]byte, []byte) {
		t.Helper()
		path := filepath.Join(dir, name)
		data := writeRandom(t, path, size)
		meta, err := torrentmeta.Build(path, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return data, meta.Torrent
	}
	for _, size := range []int{1, 5000, 64 << 10, 300 << 10} {
		for _, corrupt := range []bool{false, true} {
			name := fmt.Sprintf("p%d-%t.tar.zst", size, corrupt)
			data, tor := build(name, size)
			// First a larger torrent, so the pooled buffer holds its data.
			if _, big := build("big.tar.zst", 512<<10); verifyPayload(context.Background(), dir, big) != nil {
				t.Fatal("a clean payload failed")
			}
			if corrupt {
				data[len(data)-1] ^= 0xff
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := verifyPayload(context.Background(), dir, tor)
			if corrupt && err == nil {
				t.Errorf("%s: corrupt payload of %d bytes verified", name, size)
			}
			if !corrupt && err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// sizeName names a size compactly for subtest names.
func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
