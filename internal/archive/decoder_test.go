package archive

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZeroFrame: the warming frame is a valid zstd frame of n zero bytes,
// for this decoder and for the zstd program.
func TestZeroFrame(t *testing.T) {
	for _, n := range []int64{1, rleBlock - 1, rleBlock, rleBlock + 1, 3<<20 + 5, warmMax} {
		frame := zeroFrame(n)
		d, err := zstd.NewReader(bytes.NewReader(frame), decoderOptions...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d)
		d.Close()
		if err != nil || int64(len(got)) != n || bytes.Count(got, []byte{0}) != len(got) {
			t.Errorf("n=%d: decoded %d bytes (%d zeros), %v", n, len(got), bytes.Count(got, []byte{0}), err)
		}
		if _, err := exec.LookPath("zstd"); err == nil {
			cmd := exec.Command("zstd", "-d", "-c")
			cmd.Stdin = bytes.NewReader(frame)
			out, err := cmd.Output()
			if err != nil || int64(len(out)) != n {
				t.Errorf("n=%d: zstd -d gave %d bytes, %v", n, len(out), err)
			}
		}
	}
}

// TestArchiveWindow: archives declare the window Warm prepares for (the
// frame header's window descriptor, RFC 8878 §3.1.1.1.2), so the warm
// ring is the one the archive needs (TestWarmKeepsTheRing: it is used).
func TestArchiveWindow(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, mixedTree(4, 256<<10))
	a := archiveTree(t, dir)
	if len(a) < 6 || a[4]&0x20 != 0 {
		t.Fatalf("archive header % x: want a frame with a window descriptor", a[:min(len(a), 6)])
	}
	if got, want := a[5], byte((archiveWindowLog-10)<<3); got != want {
		t.Errorf("window descriptor %#x, want %#x (1<<%d): update archiveWindowLog", got, want, archiveWindowLog)
	}
}

// TestWarmDecoderIsUsed: after Warm, the next extraction takes the warm
// decoder and extracts correctly with it; a small archive warms nothing.
func TestWarmDecoderIsUsed(t *testing.T) {
	t.Cleanup(func() { takeWarm() })
	Warm(warmMin - 1)
	if takeWarm() != nil {
		t.Error("Warm of less than warmMin made a decoder")
	}
	Warm(4 << 20)
	warm.mu.Lock()
	d := warm.d
	warm.mu.Unlock()
	if d == nil {
		t.Fatal("Warm made no decoder")
	}
	dir := t.TempDir()
	nodes := mixedTree(3, 2<<20)
	writeTree(t, dir, nodes)
	arch := archiveTree(t, dir)
	got, err := newDecoder(bytes.NewReader(arch), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != d {
		t.Error("newDecoder did not take the warm decoder")
	}
	releaseDecoder(got)
	Warm(4 << 20)
	dest := filepath.Join(t.TempDir(), "out")
	if err := Extract(context.Background(), bytes.NewReader(arch), dest, 1<<30); err != nil {
		t.Fatal(err)
	}
	if takeWarm() != nil {
		t.Error("Extract left the warm decoder")
	}
	src, _ := Scan(dir)
	out, err := Scan(dest)
	if err != nil || len(out) != len(src) {
		t.Errorf("extracted %d entries (%v), want %d", len(out), err, len(src))
	}
}

// TestWarmKeepsTheRing: extracting a large archive after Warm allocates
// no new history ring (about 8.4 MiB): the ring Warm touched is the one the
// archive's window needs.
func TestWarmKeepsTheRing(t *testing.T) {
	t.Cleanup(func() { takeWarm() })
	dir := t.TempDir()
	writeTree(t, dir, mixedTree(11, 12<<20))
	arch := archiveTree(t, dir)
	extract := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := Extract(context.Background(), bytes.NewReader(arch), filepath.Join(t.TempDir(), "out"), 1<<30); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	takeWarm()
	cold := extract()
	Warm(12 << 20)
	warmed := extract()
	t.Logf("allocated extracting %d bytes of archive: %d bytes with a new decoder, %d after Warm", len(arch), cold, warmed)
	if warmed > 2<<20 {
		t.Errorf("extraction after Warm allocated %d bytes: the warm ring was not used", warmed)
	}
}
