package swarm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// openUnder counts this process's descriptors open on files under dir.
func openUnder(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// A seeder's payload descriptors stay within its pool's bound however many
// torrents peers ask of it: each torrent kept its file open from its first
// read to its close, and a publisher and a mirror of 5,000 archives held
// 5,030 descriptors each once a mirror had fetched every archive (with a
// limit of 2,048 the publisher's catalog listener failed to accept, "too
// many open files", and the mirror got 2,018 of the 5,000). A file being
// read is never closed under its reader, and one closed is opened again
// when asked for.
func TestPayloadDescriptorsBounded(t *testing.T) {
	const torrents, bound, size = 40, 8, 20 << 10
	dir := t.TempDir()
	states := newPieceStates()
	inner := storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		TorrentDirMaker: func(base string, _ *metainfo.Info, _ metainfo.Hash) string { return base },
		PieceCompletion: states,
	})
	t.Cleanup(func() { inner.Close() })
	fs := newFileStorage(inner, dir, states)
	fs.pool.max = bound

	type opened struct {
		data  []byte
		piece storage.PieceImpl
	}
	var all []opened
	for i := range torrents {
		name := fmt.Sprintf("p%d-1.0.0.tar.zst", i)
		data := writeRandom(t, filepath.Join(dir, name), size+i)
		info := &metainfo.Info{Name: name, PieceLength: 16 << 10, Length: int64(len(data))}
		if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) { return os.Open(filepath.Join(dir, name)) }); err != nil {
			t.Fatal(err)
		}
		ti, err := fs.OpenTorrent(context.Background(), info, metainfo.Hash{byte(i), 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ti.Close() })
		all = append(all, opened{data, ti.Piece(info.Piece(0))})
	}
	// One read in progress on the first torrent's file all along.
	busy := all[0].piece.(*filePiece).file
	held := busy.get(false)
	if held.f == nil {
		t.Fatal("the first torrent's file did not open")
	}
	read := func(round int) {
		t.Helper()
		for i, o := range all {
			buf := make([]byte, 16<<10)
			if n, err := o.piece.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], o.data[:16<<10]) {
				t.Fatalf("round %d: torrent %d: read %d bytes, %v; want its first 16 KiB", round, i, n, err)
			}
		}
	}
	read(1)
	read(2) // the ones closed open again
	if n := openUnder(t, dir); n > bound {
		t.Errorf("%d payload descriptors open after reading %d torrents; want at most %d", n, torrents, bound)
	}
	buf := make([]byte, 100)
	if _, err := held.f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, all[0].data[:100]) {
		t.Errorf("the descriptor of a read in progress was closed under it: %v", err)
	}
	busy.done()
}
