package swarm

import (
	"bytes"
	"crypto/sha1"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// bufferedTorrent opens a torrent of size random bytes in 64 KiB pieces
// (four chunks) through a fileStorage whose piece buffers may hold budget
// bytes.
func bufferedTorrent(t *testing.T, size int, budget int64) (data []byte, ps []storage.PieceImpl, ti storage.TorrentImpl, fs *fileStorage, part string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "data")
	data = writeRandom(t, src, size)
	info := &metainfo.Info{Name: "pkg-1.0.0.tar.zst", PieceLength: 64 << 10, Length: int64(size)}
	if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) { return os.Open(src) }); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ps, ti, fs = openPiecesBudget(t, dir, info, budget)
	return data, ps, ti, fs, filepath.Join(dir, info.Name+".part")
}

// fileAt reads n bytes of the partial file at off (zeros where nothing was
// written).
func fileAt(t *testing.T, part string, off, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	f, err := os.Open(part)
	if os.IsNotExist(err) {
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.ReadAt(b, off)
	return b
}

func writeChunks(t *testing.T, p storage.PieceImpl, piece []byte, order ...int) {
	t.Helper()
	for _, c := range order {
		off := c * chunkSize
		b := piece[off:min(off+chunkSize, len(piece))]
		if n, err := p.WriteAt(b, int64(off)); err != nil || n != len(b) {
			t.Fatalf("WriteAt(chunk %d) = %d, %v", c, n, err)
		}
	}
}

func hashOf(t *testing.T, p storage.PieceImpl) [20]byte {
	t.Helper()
	h := sha1.New()
	if _, err := p.(io.WriterTo).WriteTo(h); err != nil {
		t.Fatal(err)
	}
	return [20]byte(h.Sum(nil))
}

// The chunks of a piece stay in memory until the piece is whole, reach the
// file in one write, and are hashed from memory; the buffer goes back to
// the budget when the piece is marked.
func TestPieceBufferWholePiece(t *testing.T) {
	const size = 2*64<<10 + 20<<10 // a short last piece of a chunk and a bit
	data, ps, _, fs, part := bufferedTorrent(t, size, 1<<20)
	for i, marked := range []func(storage.PieceImpl) error{storage.PieceImpl.MarkComplete, storage.PieceImpl.MarkNotComplete, storage.PieceImpl.MarkComplete} {
		off := int64(i) * 64 << 10
		piece := data[off:min(off+64<<10, size)]
		chunks := (len(piece) + chunkSize - 1) / chunkSize
		order := []int{chunks - 1}
		for c := range chunks - 1 {
			order = append(order, c)
		}
		writeChunks(t, ps[i], piece, order[:len(order)-1]...)
		if fs.budget.used.Load() == 0 {
			t.Fatalf("piece %d: nothing buffered", i)
		}
		if got := fileAt(t, part, off, int64(len(piece))); bytes.Equal(got, piece) || !bytes.Equal(got, make([]byte, len(piece))) {
			t.Fatalf("piece %d: chunks reached the file before the piece was whole", i)
		}
		writeChunks(t, ps[i], piece, order[len(order)-1])
		if got := fileAt(t, part, off, int64(len(piece))); !bytes.Equal(got, piece) {
			t.Fatalf("piece %d: the whole piece is not in the file", i)
		}
		if hashOf(t, ps[i]) != sha1.Sum(piece) {
			t.Errorf("piece %d hashes wrong", i)
		}
		if err := marked(ps[i]); err != nil {
			t.Fatal(err)
		}
		if n := fs.budget.used.Load(); n != 0 {
			t.Errorf("piece %d: %d bytes still held after it was marked", i, n)
		}
	}
}

// Chunks buffered for a piece are written out before anything reads the
// file or writes the piece another way, and when the torrent closes.
func TestPieceBufferFlushes(t *testing.T) {
	const size = 4 * 64 << 10
	for _, c := range []struct {
		name string
		then func(t *testing.T, p storage.PieceImpl, ti storage.TorrentImpl, fs *fileStorage, piece []byte)
		want func(piece []byte) []byte // the file's bytes of the piece afterwards
	}{
		{"read", func(t *testing.T, p storage.PieceImpl, _ storage.TorrentImpl, _ *fileStorage, piece []byte) {
			b := make([]byte, chunkSize)
			if _, err := p.ReadAt(b, 2*chunkSize); err != nil || !bytes.Equal(b, piece[2*chunkSize:3*chunkSize]) {
				t.Errorf("ReadAt of a buffered chunk: %v", err)
			}
		}, func(piece []byte) []byte { return withChunks(piece, 0, 2) }},
		{"hash", func(t *testing.T, p storage.PieceImpl, _ storage.TorrentImpl, _ *fileStorage, piece []byte) {
			if hashOf(t, p) == sha1.Sum(piece) {
				t.Error("a piece with two chunks missing hashed right")
			}
		}, func(piece []byte) []byte { return withChunks(piece, 0, 2) }},
		{"unaligned write", func(t *testing.T, p storage.PieceImpl, _ storage.TorrentImpl, _ *fileStorage, piece []byte) {
			if _, err := p.WriteAt(piece[100:200], 100); err != nil {
				t.Fatal(err)
			}
		}, func(piece []byte) []byte {
			w := withChunks(piece, 0, 2)
			copy(w[100:200], piece[100:200])
			return w
		}},
		{"web seed", func(t *testing.T, _ storage.PieceImpl, _ storage.TorrentImpl, fs *fileStorage, piece []byte) {
			if err := fs.writeAt(metainfo.Hash{1}, bytes.Repeat([]byte{7}, 10), 64<<10+5); err != nil {
				t.Fatal(err)
			}
		}, func(piece []byte) []byte {
			w := withChunks(piece, 0, 2)
			copy(w[5:15], bytes.Repeat([]byte{7}, 10))
			return w
		}},
		{"close", func(t *testing.T, _ storage.PieceImpl, ti storage.TorrentImpl, _ *fileStorage, _ []byte) {
			if err := ti.Close(); err != nil {
				t.Fatal(err)
			}
		}, func(piece []byte) []byte { return withChunks(piece, 0, 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, ps, ti, fs, part := bufferedTorrent(t, size, 1<<20)
			piece := data[64<<10 : 128<<10]
			writeChunks(t, ps[1], piece, 2, 0)
			c.then(t, ps[1], ti, fs, piece)
			if got := fileAt(t, part, 64<<10, 64<<10); !bytes.Equal(got, c.want(piece)) {
				t.Error("the file does not hold the chunks written")
			}
			if n := fs.budget.used.Load(); n != 0 {
				t.Errorf("%d bytes still held", n)
			}
		})
	}
}

// withChunks is piece with only the chunks listed, zeros elsewhere.
func withChunks(piece []byte, chunks ...int) []byte {
	w := make([]byte, len(piece))
	for _, c := range chunks {
		copy(w[c*chunkSize:(c+1)*chunkSize], piece[c*chunkSize:])
	}
	return w
}

// Past the budget, chunks are written straight to the file.
func TestPieceBufferBudget(t *testing.T) {
	const size = 2 * 64 << 10
	data, ps, _, fs, part := bufferedTorrent(t, size, 64<<10)
	writeChunks(t, ps[0], data[:64<<10], 0)
	writeChunks(t, ps[1], data[64<<10:], 0)
	if got := fileAt(t, part, 64<<10, chunkSize); !bytes.Equal(got, data[64<<10:64<<10+chunkSize]) {
		t.Error("a chunk past the budget did not go to the file")
	}
	if got := fileAt(t, part, 0, chunkSize); bytes.Equal(got, data[:chunkSize]) {
		t.Error("the chunk within the budget went to the file")
	}
	if n := fs.budget.used.Load(); n != 64<<10 {
		t.Errorf("budget holds %d bytes, want one piece", n)
	}
}
