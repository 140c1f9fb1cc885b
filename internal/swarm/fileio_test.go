package swarm

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// readFileAt and writeFileAt give what os.File's ReadAt and WriteAt give:
// the same bytes, counts and errors.
func TestFileAtLikeOSFile(t *testing.T) {
	const size = 100_000
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// written in chunks, out of order, as chunks arrive
	for _, off := range []int{81_920, 0, 49_152, 16_384, 98_304, 32_768, 65_536} {
		end := min(off+16_384, size)
		if n, err := writeFileAt(localFile(f), data[off:end], int64(off)); err != nil || n != end-off {
			t.Fatalf("writeFileAt at %d: %d, %v", off, n, err)
		}
	}
	for _, tc := range []struct {
		name     string
		off, len int
	}{
		{"inside", 1000, 16_384},
		{"whole", 0, size},
		{"across the end", size - 100, 300},
		{"at the end", size, 10},
		{"past the end", size + 5000, 10},
		{"empty", 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]byte, tc.len)
			n, err := readFileAt(localFile(f), got, int64(tc.off))
			want := make([]byte, tc.len)
			wn, werr := f.ReadAt(want, int64(tc.off))
			if n != wn || !errors.Is(err, werr) && err != werr {
				t.Fatalf("readFileAt = %d, %v; os.File.ReadAt = %d, %v", n, err, wn, werr)
			}
			if !bytes.Equal(got[:n], want[:wn]) {
				t.Fatal("bytes differ from os.File.ReadAt's")
			}
			if tc.off < size && !bytes.Equal(got[:n], data[tc.off:tc.off+n]) {
				t.Fatal("bytes differ from what was written")
			}
		})
	}
}

// A read of pages the page cache does not hold (dropped with fadvise)
// still returns them, through the ordinary read.
func TestReadFileAtNotCached(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := writeRandom(t, path, 1<<20)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dropCached(f); err != nil {
		t.Skipf("cannot drop the file's pages: %v", err)
	}
	got := make([]byte, len(data))
	if n, err := readFileAt(localFile(f), got, 0); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("readFileAt of an uncached file: %d, %v (equal %v)", n, err, bytes.Equal(got, data))
	}
}

// A failed direct write names the file and says why.
func TestWriteFileAtError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // read-only
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = writeFileAt(localFile(f), []byte("hello"), 0)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("write to a read-only file: %v, want a *PathError naming %s with EBADF", err, path)
	}
}

func TestStallGuard(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms, s := time.Millisecond, time.Second
	slow := 50 * ms
	for _, tc := range []struct {
		name   string
		writes [][2]time.Duration // when each write ended (after t0), how long it took
		at     time.Duration      // when asked, after t0
		want   bool
	}{
		{"fast writes", [][2]time.Duration{{0, ms / 10}, {ms, ms / 10}, {2 * ms, ms / 10}}, 10 * ms, true},
		{"at the limit", [][2]time.Duration{{0, writeStall}, {ms, writeStall}, {2 * ms, writeStall}}, 10 * ms, true},
		{"one slow write (a preemption)", [][2]time.Duration{{0, slow}}, 10 * ms, true},
		{"two slow", [][2]time.Duration{{0, slow}, {ms, ms / 10}, {2 * ms, slow}}, 10 * ms, true},
		{"three slow", [][2]time.Duration{{0, slow}, {ms, slow}, {2 * ms, ms / 10}, {3 * ms, slow}}, 10 * ms, false},
		{"three slow, calm not over", [][2]time.Duration{{0, slow}, {ms, slow}, {2 * ms, slow}}, 2*ms + writeCalm - ms, false},
		{"three slow, calm over", [][2]time.Duration{{0, slow}, {ms, slow}, {2 * ms, slow}}, 2*ms + writeCalm, true},
		{"three slow within 10 s, across a 10 s boundary", [][2]time.Duration{{0, slow}, {9 * s, slow}, {11 * s, slow}, {12 * s, slow}}, 12*s + ms, false},
		{"three slow over more than 10 s", [][2]time.Duration{{0, slow}, {6 * s, slow}, {10*s + ms, slow}}, 10*s + 2*ms, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g stallGuard
			if !g.direct(t0) {
				t.Fatal("a new guard sends writes through the runtime")
			}
			for _, w := range tc.writes {
				g.took(t0.Add(w[0]), w[1])
			}
			if got := g.direct(t0.Add(tc.at)); got != tc.want {
				t.Fatalf("direct at %v after writes %v: %v, want %v", tc.at, tc.writes, got, tc.want)
			}
		})
	}
	// slow writes further apart than writeCalm/2 never add up
	var g stallGuard
	for i := range 10 {
		now := t0.Add(time.Duration(i) * (writeCalm/2 + ms))
		g.took(now, slow)
		if !g.direct(now) {
			t.Fatalf("slow write %d, %v apart: writes sent through the runtime", i+1, writeCalm/2+ms)
		}
	}
}

// localFile is f as a payload file on a local file system, whatever its
// file system: the tests take the direct path wherever they run.
func localFile(f *os.File) payloadFile {
	p := newPayloadFile(f)
	p.local = true
	return p
}
