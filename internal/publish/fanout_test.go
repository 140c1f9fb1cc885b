package publish

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestFanOutDeliversEveryByteInOrder: each stage sees the whole stream, in
// order, in chunks whose offsets add up, whatever the write sizes; no more
// than fanBuffers buffers ever exist.
func TestFanOutDeliversEveryByteInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([]byte, 5*fanBufSize+12345)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	const stages = 3
	got := make([]bytes.Buffer, stages)
	var mu sync.Mutex
	seen := map[*byte]bool{}
	var funcs []func(chunk) error
	for i := range stages {
		funcs = append(funcs, func(c chunk) error {
			if c.off != int64(got[i].Len()) {
				t.Errorf("stage %d: chunk at %d after %d bytes", i, c.off, got[i].Len())
			}
			mu.Lock()
			seen[&c.b[:1][0]] = true
			mu.Unlock()
			got[i].Write(c.b)
			return nil
		})
	}
	fan := newFanOut(context.Background(), func() int64 { return 0 }, funcs...)
	for off := 0; off < len(data); {
		n := min(len(data)-off, 1+rng.IntN(300<<10))
		if k, err := fan.Write(data[off : off+n]); k != n || err != nil {
			t.Fatalf("Write = %d, %v", k, err)
		}
		off += n
	}
	n, err := fan.close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("close = %d, %v; want %d, nil", n, err, len(data))
	}
	for i := range got {
		if !bytes.Equal(got[i].Bytes(), data) {
			t.Errorf("stage %d received %d bytes, not the stream", i, got[i].Len())
		}
	}
	if len(seen) > fanBuffers {
		t.Errorf("%d distinct buffers used, the pool has %d", len(seen), fanBuffers)
	}
}

// TestFanOutStageFailureStopsTheWriter: a stage that fails (a full disk)
// stops the writer with its error instead of blocking it, and the other
// stages still finish.
func TestFanOutStageFailureStopsTheWriter(t *testing.T) {
	boom := errors.New("no space left on device")
	var calls int
	fan := newFanOut(context.Background(), func() int64 { return 0 },
		func(c chunk) error {
			if calls++; calls == 2 {
				return boom
			}
			return nil
		},
		func(chunk) error { return nil },
	)
	buf := make([]byte, 64<<10)
	var err error
	for i := 0; i < 64*fanBuffers*4 && err == nil; i++ { // far more than the pool holds
		_, err = fan.Write(buf)
	}
	if !errors.Is(err, boom) {
		t.Errorf("Write after a failed stage: %v, want %v", err, boom)
	}
	if _, err := fan.close(); !errors.Is(err, boom) {
		t.Errorf("close: %v, want %v", err, boom)
	}
}

func TestFanOutCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	fan := newFanOut(ctx, func() int64 { return 0 }, func(chunk) error { <-block; return nil })
	cancel()
	buf := make([]byte, fanBufSize)
	var err error
	for i := 0; i < fanBuffers+2 && err == nil; i++ {
		_, err = fan.Write(buf)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Write on a cancelled context with a stuck stage: %v", err)
	}
	close(block)
	if _, err := fan.close(); !errors.Is(err, context.Canceled) {
		t.Errorf("close: %v", err)
	}
}

// TestWriteArchiveFileErrorFails: when the archive file cannot be written
// the build fails with the file's error, promptly.
func TestWriteArchiveFileErrorFails(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "pkg")
	if err := os.MkdirAll(filepath.Join(src, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(uint32(i) * 2654435761 >> 13)
	}
	if err := os.WriteFile(filepath.Join(src, "assets", "data"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := archive.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out.tar.zst")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = writeArchive(context.Background(), ro, src, entries)
	if err == nil || !strings.Contains(err.Error(), "out.tar.zst") {
		t.Errorf("writeArchive into a read-only file: %v, want the file's write error", err)
	}
}

// TestWriteArchiveMatchesTheParts: one pass gives what the separate steps
// give: archive.Write's bytes, their SHA-256 and torrentmeta.Build's
// pieces.
func TestWriteArchiveMatchesTheParts(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "pkg")
	rng := rand.New(rand.NewPCG(9, 9))
	for i, size := range []int{0, 1, 100 << 10, 2<<20 + 3} {
		p := filepath.Join(src, "assets", strings.Repeat("d", i+1), "f")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for j := range b {
			if j%3 == 0 {
				b[j] = byte(rng.Uint32())
			} else {
				b[j] = 'a' + byte(j%7)
			}
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := archive.Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := archive.Write(&want, src, entries); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "a.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := writeArchive(context.Background(), f, src, entries)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want.Bytes()) || got.size != int64(len(data)) {
		t.Fatalf("archive %d bytes (reported %d), archive.Write gives %d", len(data), got.size, want.Len())
	}
	ref, err := torrentmetaBuildPieces(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if got.sha256 != sha256Hex(data) || !bytes.Equal(got.pieces.Hashes, ref.Hashes) || got.pieces.Length != ref.Length {
		t.Errorf("sha256 %s (want %s), %d piece hashes of %d (want %d of %d)", got.sha256, sha256Hex(data), len(got.pieces.Hashes)/20, got.pieces.Length, len(ref.Hashes)/20, ref.Length)
	}
}

// torrentmetaBuildPieces hashes the file's pieces plainly, one SHA-1 per
// PieceLength bytes, as a reference.
func torrentmetaBuildPieces(path string) (torrentmeta.Pieces, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return torrentmeta.Pieces{}, err
	}
	pl := torrentmeta.PieceLength(int64(len(data)))
	p := torrentmeta.Pieces{Length: pl}
	for off := int64(0); off < int64(len(data)); off += pl {
		sum := sha1.Sum(data[off:min(off+pl, int64(len(data)))])
		p.Hashes = append(p.Hashes, sum[:]...)
	}
	return p, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
