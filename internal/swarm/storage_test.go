package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// randomTorrent makes size random bytes and the info of a torrent of them
// with 16 KiB pieces.
func randomTorrent(t *testing.T, size int) ([]byte, *metainfo.Info) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "data")
	data := writeRandom(t, src, size)
	info := &metainfo.Info{Name: "pkg-1.0.0.tar.zst", PieceLength: 16 << 10, Length: int64(size)}
	if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) { return os.Open(src) }); err != nil {
		t.Fatal(err)
	}
	return data, info
}

// pieces opens the torrent through fileStorage and returns its pieces.
func openPieces(t *testing.T, dir string, info *metainfo.Info) ([]storage.PieceImpl, storage.TorrentImpl) {
	t.Helper()
	states := newPieceStates()
	inner := storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		TorrentDirMaker: func(base string, _ *metainfo.Info, _ metainfo.Hash) string { return base },
		PieceCompletion: states,
	})
	t.Cleanup(func() { inner.Close() })
	ti, err := newFileStorage(inner, dir, states).OpenTorrent(context.Background(), info, metainfo.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	var ps []storage.PieceImpl
	for i := range info.NumPieces() {
		if ti.PieceWithHash != nil {
			h := info.Piece(i).V1Hash().Unwrap()
			ps = append(ps, ti.PieceWithHash(info.Piece(i), g.Some(h[:])))
		} else {
			ps = append(ps, ti.Piece(info.Piece(i)))
		}
	}
	return ps, ti
}

// Chunks written through the pieces land in the partial file at their
// offsets, read back through the same descriptor after the library's
// rename to the final name, and a torrent opened later reads the final,
// read-only file. No piece offers the per-piece flush.
func TestFileStorage(t *testing.T) {
	const size = 40<<10 + 123 // the last piece is short
	data, info := randomTorrent(t, size)
	dir := t.TempDir()
	final := filepath.Join(dir, info.Name)
	ps, ti := openPieces(t, dir, info)

	for i, p := range ps {
		if _, ok := p.(storage.Flusher); ok {
			t.Errorf("piece %d: still a storage.Flusher", i)
		}
		if _, err := p.ReadAt(make([]byte, 10), 0); err == nil {
			t.Errorf("piece %d: read before any write succeeded", i)
		}
	}
	// Write the pieces back to front, each in two chunks.
	for i := len(ps) - 1; i >= 0; i-- {
		off := int64(i) * info.PieceLength
		piece := data[off:min(off+info.PieceLength, size)]
		half := len(piece) / 2
		for _, c := range []struct {
			b   []byte
			off int64
		}{{piece[half:], int64(half)}, {piece[:half], 0}} {
			if n, err := ps[i].WriteAt(c.b, c.off); err != nil || n != len(c.b) {
				t.Fatalf("piece %d: WriteAt(%d bytes at %d) = %d, %v", i, len(c.b), c.off, n, err)
			}
		}
	}
	if got, err := os.ReadFile(final + ".part"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("partial file: %d bytes, %v; want the %d bytes written", len(got), err, size)
	}
	if _, err := ps[0].WriteAt(make([]byte, 1), info.PieceLength); err == nil {
		t.Error("a write past the piece's end succeeded")
	}

	// The library promotes a complete file: rename, then read-only.
	if err := os.Rename(final+".part", final); err != nil {
		t.Fatal(err)
	}
	os.Chmod(final, 0o444)
	check := func(ps []storage.PieceImpl, when string) {
		t.Helper()
		for i, p := range ps {
			want := info.Piece(i).V1Hash().Unwrap()
			h := sha1.New()
			if _, err := p.(io.WriterTo).WriteTo(h); err != nil {
				t.Fatalf("%s: piece %d: WriteTo: %v", when, i, err)
			}
			if !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("%s: piece %d hashes wrong", when, i)
			}
			buf := make([]byte, info.PieceLength+5)
			n, err := p.ReadAt(buf, 0)
			if int64(n) != info.Piece(i).Length() || err != io.EOF {
				t.Errorf("%s: piece %d: ReadAt past its end = %d, %v; want %d, EOF", when, i, n, err, info.Piece(i).Length())
			}
		}
	}
	check(ps, "after the rename")
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	again, _ := openPieces(t, dir, info)
	check(again, "opened again")
}

// A payload file deleted under an open torrent is noticed within a
// second: reads then go to the library (which finds no file) instead of
// the unlinked inode the descriptor still holds.
func TestFileStorageNoticesDeletion(t *testing.T) {
	const size = 32 << 10
	data, info := randomTorrent(t, size)
	dir := t.TempDir()
	ps, _ := openPieces(t, dir, info)
	if _, err := ps[0].WriteAt(data[:16<<10], 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16<<10)
	if _, err := ps[0].ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:16<<10]) {
		t.Fatalf("read back: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, info.Name+".part")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(linkCheck + 100*time.Millisecond)
	if n, err := ps[0].ReadAt(buf, 0); err == nil {
		t.Errorf("read %d bytes of a deleted file", n)
	}
}

// A .part file the library made read-only (a complete file renamed back
// after a bad piece) is made writable again for a write, as the library
// does; root ignores modes, so this runs as another user only.
func TestFileStorageReadOnlyPart(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only files anyway")
	}
	dir := t.TempDir()
	info := &metainfo.Info{Name: "pkg-1.0.0.tar.zst", PieceLength: 16 << 10, Length: 16 << 10, Pieces: make([]byte, 20)}
	part := filepath.Join(dir, info.Name+".part")
	if err := os.WriteFile(part, make([]byte, 16<<10), 0o444); err != nil {
		t.Fatal(err)
	}
	ps, _ := openPieces(t, dir, info)
	if _, err := ps[0].WriteAt([]byte("x"), 5); err != nil {
		t.Fatalf("write to a read-only .part: %v", err)
	}
	got, _ := os.ReadFile(part)
	if got[5] != 'x' {
		t.Error("the write did not reach the file")
	}
}

func TestPieceStatesForget(t *testing.T) {
	p := newPieceStates()
	a, b := metainfo.Hash{1}, metainfo.Hash{2}
	for i := range 3 {
		p.Set(metainfo.PieceKey{InfoHash: a, Index: i}, true)
		p.Set(metainfo.PieceKey{InfoHash: b, Index: i}, i == 1)
	}
	p.forget(a)
	for _, c := range []struct {
		k            metainfo.PieceKey
		ok, complete bool
	}{
		{metainfo.PieceKey{InfoHash: a, Index: 0}, false, false}, // forgotten: unknown, so hashed again
		{metainfo.PieceKey{InfoHash: b, Index: 0}, true, false},
		{metainfo.PieceKey{InfoHash: b, Index: 1}, true, true},
	} {
		got, err := p.Get(c.k)
		if err != nil || got.Ok != c.ok || got.Complete != c.complete {
			t.Errorf("Get(%v) = %+v, %v; want ok %v complete %v", c.k, got, err, c.ok, c.complete)
		}
	}
}

// A torrent opened with no file under either name is a new download: every
// piece is known to be missing, so the library queues no hash of it. A
// partial file's pieces stay unknown (the library hashes them) and a final
// file's are complete.
func TestFileStorageNewDownloadNotHashed(t *testing.T) {
	data, info := randomTorrent(t, 3*16<<10)
	for _, c := range []struct {
		name         string
		file         string // created before the torrent opens, "" for none
		ok, complete bool
	}{
		{"none", "", true, false},
		{"partial", info.Name + ".part", false, false},
		{"final", info.Name, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.file != "" {
				if err := os.WriteFile(filepath.Join(dir, c.file), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ps, _ := openPieces(t, dir, info)
			for i, p := range ps {
				got := p.Completion()
				if got.Ok != c.ok || got.Complete != c.complete || got.Err != nil {
					t.Errorf("piece %d: completion %+v, want ok %v complete %v", i, got, c.ok, c.complete)
				}
			}
		})
	}
}

// The library itself queues no hash of a new download's pieces: each is
// known incomplete at once. Dropped and added again over a partial file,
// the torrent's pieces are hashed as before, and the right half counts.
func TestEngineNewDownloadNotHashed(t *testing.T) {
	src := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	data := writeRandom(t, src, 1<<20)
	meta, err := torrentmeta.Build(src, "", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := newEngine(t, dir, 0)
	tt, err := e.add(meta.Torrent, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tt.NumPieces() {
		if st := tt.Piece(i).State(); !st.Ok || st.Complete || st.Checking || st.QueuedForHash || st.Hashing {
			t.Fatalf("new download, piece %d: %+v; want known incomplete, not hashed", i, st)
		}
	}
	e.Drop(tt.InfoHash())
	half := make([]byte, len(data))
	copy(half, data[:len(data)/2])
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)+".part"), half, 0o644); err != nil {
		t.Fatal(err)
	}
	if tt, err = e.add(meta.Torrent, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); tt.BytesCompleted() < int64(len(half)/2) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := tt.BytesCompleted(); got != int64(len(half)/2) {
		t.Errorf("added again over a half-right .part: %d bytes complete, want %d", got, len(half)/2)
	}
}
