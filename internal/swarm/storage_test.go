package swarm

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// The per-piece fsync is gone, the fast hashing path stays, and the data
// still goes to the file the piece belongs to.
func TestNoFlushStorage(t *testing.T) {
	dir := t.TempDir()
	const size = 3 * 16 << 10
	data := writeRandom(t, filepath.Join(dir, "src"), size)
	info := metainfo.Info{Name: "pkg-1.0.0.tar.zst", PieceLength: 32 << 10, Length: size}
	if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, "src"))
	}); err != nil {
		t.Fatal(err)
	}
	inner := storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		TorrentDirMaker: func(base string, _ *metainfo.Info, _ metainfo.Hash) string { return base },
		PieceCompletion: memoryCompletion{storage.NewMapPieceCompletion()},
	})
	defer inner.Close()
	ti, err := noFlush{inner}.OpenTorrent(context.Background(), &info, metainfo.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range info.NumPieces() {
		var p storage.PieceImpl
		if ti.PieceWithHash != nil {
			h := info.Piece(i).V1Hash().Unwrap()
			p = ti.PieceWithHash(info.Piece(i), g.Some(h[:]))
		} else {
			p = ti.Piece(info.Piece(i))
		}
		if _, ok := p.(storage.Flusher); ok {
			t.Errorf("piece %d: still a storage.Flusher", i)
		}
		if _, ok := p.(io.WriterTo); !ok {
			t.Errorf("piece %d: lost io.WriterTo", i)
		}
		off := int64(i) * info.PieceLength
		chunk := data[off:min(off+info.PieceLength, size)]
		if _, err := p.WriteAt(chunk, 0); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, info.Name+".part"))
	if os.IsNotExist(err) {
		got, err = os.ReadFile(filepath.Join(dir, info.Name))
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Errorf("file holds %d bytes that differ from the %d written", len(got), len(data))
	}
}
