package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// framedTree writes a mixed tree to a new directory and returns it with its
// entries, its tar stream (the archive decompressed) and the stream's length.
func framedTree(t *testing.T, seed uint64, size int) (dir string, entries []Entry, tarStream []byte) {
	t.Helper()
	dir = t.TempDir()
	writeTree(t, dir, mixedTree(seed, size))
	entries, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var one bytes.Buffer
	if _, err := write(&one, dir, entries, nil, 1, 1<<30, 1); err != nil {
		t.Fatal(err)
	}
	return dir, entries, decompress(t, one.Bytes())
}

func decompress(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWriteFrames: a tar stream longer than a frame is written as the
// frames one encoder makes of each frame-sized cut of the stream, one
// after another, whatever the number of workers; a stream of at most one
// frame is the archive it always was. Frame sizes are small here so that
// small trees have many frames, the last one short or whole.
func TestWriteFrames(t *testing.T) {
	dir, entries, stream := framedTree(t, 5, 3<<20)
	// The reference: each cut compressed by a fresh encoder, concatenated.
	framed := func(frame int) []byte {
		var out bytes.Buffer
		for off := 0; off < len(stream); off += frame {
			enc, err := newEncoder(&out, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := enc.Write(stream[off:min(off+frame, len(stream))]); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
		}
		return out.Bytes()
	}
	// 8 KiB: about 390 frames. A frame of one block moves an encoder's
	// position counter on by twice its window and the frame (8 MiB +
	// 8 KiB here), and past 2^31 - 8 MiB, some 250 frames, the encoder
	// clears its match tables: the one worker's encoder crosses that line
	// and must still give a fresh encoder's bytes. Real 8 MiB frames cross
	// it every 170 frames of an encoder (about 1.3 GiB of tar), through the
	// streaming path, at a frame's start with an empty history: a fresh
	// encoder's state (seen by a review that forced the counter there).
	for _, frame := range []int{8 << 10, 256 << 10, 1 << 20, len(stream) / 2, len(stream) - 1, len(stream), len(stream) + 1} {
		want := framed(frame)
		for _, workers := range []int{1, 2, 4} {
			var buf bytes.Buffer
			var p Progress
			if _, err := write(&buf, dir, entries, &p, 2, frame, workers); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("frame %d, %d workers: %d bytes, differ from the reference's %d", frame, workers, buf.Len(), len(want))
			}
			if p.In() != int64(len(stream)) {
				t.Errorf("frame %d, %d workers: progress ended at %d of %d", frame, workers, p.In(), len(stream))
			}
		}
		if got := decompress(t, want); !bytes.Equal(got, stream) {
			t.Errorf("frame %d: the frames decompress to %d bytes, not the %d-byte tar stream", frame, len(got), len(stream))
		}
	}
}

// TestFramesRoundTrip: an archive of many frames extracts to the tree, and
// so does it with the zstd and tar programs (any decoder reads the frames
// as one stream).
func TestFramesRoundTrip(t *testing.T) {
	dir, entries, _ := framedTree(t, 6, 2<<20)
	var buf bytes.Buffer
	if _, err := write(&buf, dir, entries, nil, 1, 300<<10, 2); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if err := Extract(context.Background(), bytes.NewReader(buf.Bytes()), dest, 1<<30); err != nil {
		t.Fatal(err)
	}
	got, err := Scan(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Errorf("extracted entries differ:\n got %+v\nwant %+v", got, entries)
	}
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Log("no zstd program: the tar -x check is skipped")
		return
	}
	archive := filepath.Join(t.TempDir(), "a.tar.zst")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dest2 := filepath.Join(t.TempDir(), "out2")
	if err := os.Mkdir(dest2, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "--zstd", "-xf", archive, "-C", dest2).CombinedOutput(); err != nil {
		t.Fatalf("tar --zstd -x: %v\n%s", err, out)
	}
	for _, e := range entries {
		if !e.Mode.IsRegular() {
			continue
		}
		a, _ := os.ReadFile(filepath.Join(dir, e.Path))
		b, err := os.ReadFile(filepath.Join(dest2, e.Path))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: tar extracted %d bytes (%v), want %d", e.Path, len(b), err, len(a))
		}
	}
}

// progressWriter checks, at every write, that the tar bytes Progress says
// are taken bound what is still to come as publish assumes (forecast):
// the archive's final size is at most what was written plus the tar bytes
// not yet counted plus 1/1024 of them, plus 2 MiB.
type progressWriter struct {
	t       *testing.T
	p       *Progress
	final   int64 // the archive's size, from an earlier run
	tarSize int64
	n       int64
	last    int64 // the last In seen
	bad     int
}

func (w *progressWriter) Write(b []byte) (int, error) {
	in := w.p.In()
	if in < w.last {
		w.t.Errorf("progress went back from %d to %d", w.last, in)
	}
	w.last = in
	left := w.tarSize - in
	if bound := w.n + left + left>>10 + 2<<20; bound < w.final && w.bad == 0 {
		w.bad++
		w.t.Errorf("after %d archive bytes, progress %d of %d: bound %d below the final %d", w.n, in, w.tarSize, bound, w.final)
	}
	w.n += int64(len(b))
	return len(b), nil
}

// TestFramesProgressBounds holds that bound for a framed archive whose
// frames are much larger than 2 MiB, where counting the tar bytes as they
// are handed to the workers would break it (frames in flight are taken but
// not written).
func TestFramesProgressBounds(t *testing.T) {
	dir, entries, stream := framedTree(t, 7, 24<<20)
	var out bytes.Buffer
	if _, err := write(&out, dir, entries, nil, 1, 4<<20, 2); err != nil {
		t.Fatal(err)
	}
	var p Progress
	w := &progressWriter{t: t, p: &p, final: int64(out.Len()), tarSize: int64(len(stream))}
	if _, err := write(w, dir, entries, &p, 1, 4<<20, 2); err != nil {
		t.Fatal(err)
	}
	if w.n != int64(out.Len()) {
		t.Errorf("wrote %d bytes, then %d", out.Len(), w.n)
	}
}

// failingWriter fails every write after the first limit bytes.
type failingWriter struct {
	limit, n int
}

var errDiskFull = errors.New("no space left on device")

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n+len(b) > w.limit {
		return 0, errDiskFull
	}
	w.n += len(b)
	return len(b), nil
}

// TestFramesWriteError: an error of the output ends the write with that
// error, at once and without a goroutine left waiting, whichever frame it
// hits.
func TestFramesWriteError(t *testing.T) {
	dir, entries, _ := framedTree(t, 8, 3<<20)
	for _, limit := range []int{0, 100, 400 << 10, 1 << 20} {
		done := make(chan error, 1)
		go func() {
			_, err := write(&failingWriter{limit: limit}, dir, entries, nil, 1, 128<<10, 2)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, errDiskFull) {
				t.Errorf("limit %d: %v, want the writer's error", limit, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("limit %d: write still running after 30 s", limit)
		}
	}
}

// TestSameContent: archives of one tar stream in other frames are the
// same content; another stream, a prefix of it or a longer one are not;
// what is not zstd is an error.
func TestSameContent(t *testing.T) {
	dir, entries, stream := framedTree(t, 9, 1<<20)
	archiveOf := func(frame int) []byte {
		var buf bytes.Buffer
		if _, err := write(&buf, dir, entries, nil, 1, frame, 2); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	one, framed := archiveOf(1<<30), archiveOf(100<<10)
	changed := bytes.Clone(stream)
	changed[len(changed)/2] ^= 1
	tests := []struct {
		name    string
		a, b    []byte
		want    bool
		wantErr bool
	}{
		{"itself", one, one, true, false},
		{"other frames", one, framed, true, false},
		{"one byte changed", one, compress(t, changed), false, false},
		{"a prefix", framed, compress(t, stream[:len(stream)-512]), false, false},
		{"longer", compress(t, append(bytes.Clone(stream), 0)), one, false, false},
		{"empty and empty", compress(t, nil), compress(t, nil), true, false},
		{"not zstd", []byte("plain text, not an archive"), one, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SameContent(context.Background(), bytes.NewReader(tt.a), bytes.NewReader(tt.b))
			if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
				t.Errorf("SameContent = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// gatedWriter blocks every write until gate is closed, counting them.
type gatedWriter struct {
	gate   chan struct{}
	writes atomic.Int32
}

func (g *gatedWriter) Write(b []byte) (int, error) {
	<-g.gate
	g.writes.Add(1)
	return len(b), nil
}

// TestFramesAbort: after a failure of the tar stream (write's abort), the
// frames not yet written are dropped, not compressed and written: here the
// first frame is being written when the stream fails, and two more wait.
func TestFramesAbort(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{})}
	fw, err := newFrameWriter(g, 1024, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(bytes.Repeat([]byte("frame "), 3*1024/6)); err != nil {
		t.Fatal(err)
	}
	errStream := errors.New("file shrank")
	fw.fail(errStream)
	close(g.gate)
	if err := fw.Close(); !errors.Is(err, errStream) {
		t.Errorf("Close after the failure: %v, want the failure", err)
	}
	if n := g.writes.Load(); n > 1 {
		t.Errorf("%d frames written after the failure, want at most the one under way", n)
	}
}
