package torrent

import (
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// TestReadBufferSize (distpac patch, readBufferSize): a connection's read buffer holds all of a
// small torrent's chunk messages and its bitfield, in 4 KiB steps from 4 KiB, and is 64 KiB for a
// torrent of 64 KiB or more, or one whose info is not known yet.
func TestReadBufferSize(t *testing.T) {
	cl, err := NewClient(TestingConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, tt := range []struct {
		length int64
		want   int
	}{
		{1, 4 << 10},
		{1 << 10, 4 << 10},
		{10_000, 12 << 10},   // 10,000 + 13 + 5 + 1
		{32 << 10, 36 << 10}, // two chunks: 32,768 + 26 + 6
		{60_000, 60 << 10},   // four chunks: 60,000 + 52 + 6
		{65_000, 64 << 10},   // would be 68 KiB
		{64 << 10, 64 << 10}, // not smaller than the most
		{100 << 20, 64 << 10},
	} {
		info := metainfo.Info{Name: "t", PieceLength: 64 << 10, Length: tt.length}
		info.Pieces = make([]byte, 20*((tt.length+info.PieceLength-1)/info.PieceLength))
		infoBytes, err := bencode.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		tor, _ := cl.AddTorrentOpt(AddTorrentOpts{InfoHash: metainfo.HashBytes(infoBytes), InfoBytes: infoBytes, Storage: patternStorage{}})
		cl.lock()
		got, haveInfo := readBufferSize(tor), tor.haveInfo()
		cl.unlock()
		if !haveInfo {
			t.Fatalf("torrent of %d bytes: no info", tt.length)
		}
		if got != tt.want {
			t.Errorf("torrent of %d bytes: read buffer %d, want %d", tt.length, got, tt.want)
		}
	}
	magnet, _ := cl.AddTorrentOpt(AddTorrentOpts{InfoHash: metainfo.Hash{1}})
	cl.lock()
	got := readBufferSize(magnet)
	cl.unlock()
	if got != 64<<10 {
		t.Errorf("torrent without info: read buffer %d, want 65536", got)
	}
}

// TestChunkPoolShared (distpac patch, chunkPoolOf): torrents of one chunk size take their chunk
// buffers from one pool, and a buffer from it is a whole chunk of that size; another size has a
// pool of its own.
func TestChunkPoolShared(t *testing.T) {
	cl, a := testTorrent(t, 2, patternStorage{})
	defer cl.Close()
	cl2, b := testTorrent(t, 3, patternStorage{})
	defer cl2.Close()
	if a.chunkPool != b.chunkPool {
		t.Error("two torrents of 16 KiB chunks have pools of their own")
	}
	if p := chunkPoolOf(32 << 10); p == a.chunkPool {
		t.Error("32 KiB chunks share the 16 KiB chunks' pool")
	} else if buf := *p.Get().(*[]byte); len(buf) != 32<<10 {
		t.Errorf("a buffer of the 32 KiB pool has %d bytes", len(buf))
	}
	a.putChunkBuffer(make([]byte, 100, a.chunkSize.Int()))
	if buf := b.getChunkBuffer(); len(buf) != b.chunkSize.Int() {
		t.Errorf("a buffer of the shared pool has %d bytes, want a whole chunk", len(buf))
	}
}
