package torrent

import (
	"bytes"
	"context"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/storage"
)

// patternStorage holds a torrent whose every byte is its offset mod 251, complete.
type patternStorage struct{}

func (patternStorage) OpenTorrent(_ context.Context, info *metainfo.Info, _ metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl { return patternPiece{p.Offset(), p.Length()} },
		Close: func() error { return nil },
	}, nil
}

type patternPiece struct{ off, len int64 }

func (p patternPiece) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	for ; n < len(b) && off+int64(n) < p.len; n++ {
		b[n] = byte((p.off + off + int64(n)) % 251)
	}
	return n, nil
}
func (patternPiece) WriteAt(b []byte, _ int64) (int, error) { return len(b), nil }
func (patternPiece) MarkComplete() error                    { return nil }
func (patternPiece) MarkNotComplete() error                 { return nil }
func (patternPiece) Completion() storage.Completion {
	return storage.Completion{Ok: true, Complete: true}
}

// testTorrent adds to a new client a torrent of the given number of pieces of 4 chunks, the
// last piece 5000 bytes short, over store. The caller closes the client.
func testTorrent(t *testing.T, pieces int, store storage.ClientImpl) (*Client, *Torrent) {
	t.Helper()
	const pieceLength = 64 << 10
	info := metainfo.Info{
		Name:        "test",
		PieceLength: pieceLength,
		Length:      int64(pieces)*pieceLength - 5000,
		Pieces:      make([]byte, 20*pieces),
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(TestingConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	tor, _ := cl.AddTorrentOpt(AddTorrentOpts{
		InfoHash:  metainfo.HashBytes(infoBytes),
		InfoBytes: infoBytes,
		Storage:   store,
	})
	return cl, tor
}

// chunksTorrent is a torrent of 3 pieces over patternStorage, and a connection to it.
func chunksTorrent(t *testing.T) (*Client, *Torrent, *PeerConn) {
	t.Helper()
	cl, tor := testTorrent(t, 3, patternStorage{})
	t.Cleanup(func() { cl.Close() })
	cl.lock()
	defer cl.unlock()
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	return cl, tor, p
}

// TestReadPeerRequestDataWholeChunk: a seeder's chunk read returns the whole chunk even when the
// chunk pool holds a buffer the receive path sliced to a short last chunk (patch 15: it served
// the short slice, and its peers' pieces failed their hashes).
func TestReadPeerRequestDataWholeChunk(t *testing.T) {
	_, tor, p := chunksTorrent(t)
	// Several, since under the race detector the pool drops a quarter of what it is given.
	for range 16 {
		tor.putChunkBuffer(make([]byte, 5, 16<<10))
	}
	r := Request{Index: 1, ChunkSpec: ChunkSpec{Begin: 16 << 10, Length: 16 << 10}}
	b, err := p.readPeerRequestData(r)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, r.Length)
	patternPiece{off: 64 << 10, len: 64 << 10}.ReadAt(want, int64(r.Begin))
	if len(b) != int(r.Length) || !bytes.Equal(b, want) {
		t.Fatalf("read %d bytes for a request of %d (content equal: %v)", len(b), r.Length, bytes.Equal(b, want))
	}
}

// TestCheckValidReceiveChunk: a received chunk must be one of the torrent's chunks, whole.
func TestCheckValidReceiveChunk(t *testing.T) {
	_, tor, _ := chunksTorrent(t)
	lastPiece := pp.Integer(64<<10 - 5000) // length of piece 2
	tests := []struct {
		index, begin, length pp.Integer
		ok                   bool
	}{
		{0, 0, 16 << 10, true},
		{0, 48 << 10, 16 << 10, true},
		{2, 48 << 10, lastPiece - 48<<10, true}, // the torrent's short last chunk
		{0, 0, 5, false},                        // short
		{0, 0, 32 << 10, false},                 // long
		{0, 100, 16 << 10, false},               // not at a chunk boundary
		{2, 48 << 10, 16 << 10, false},          // past the end of the torrent
		{3, 0, 16 << 10, false},                 // no such piece
		{0, 64 << 10, 16 << 10, false},          // past the end of the piece
	}
	for _, tt := range tests {
		err := tor.checkValidReceiveChunk(Request{Index: tt.index, ChunkSpec: ChunkSpec{Begin: tt.begin, Length: tt.length}})
		if (err == nil) != tt.ok {
			t.Errorf("chunk %d/%d+%d: error %v, want ok %v", tt.index, tt.begin, tt.length, err, tt.ok)
		}
	}
}
