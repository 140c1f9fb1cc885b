package torrent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/storage"
)

// recordStorage keeps what is written to a torrent, by torrent offset.
type recordStorage struct {
	mu     sync.Mutex
	writes map[int64][]byte
}

func (s *recordStorage) OpenTorrent(context.Context, *metainfo.Info, metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl { return recordPiece{s, p.Offset()} },
		Close: func() error { return nil },
	}, nil
}

func (s *recordStorage) written() map[int64][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64][]byte, len(s.writes))
	for k, v := range s.writes {
		out[k] = v
	}
	return out
}

type recordPiece struct {
	s   *recordStorage
	off int64
}

func (p recordPiece) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }
func (p recordPiece) WriteAt(b []byte, off int64) (int, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.s.writes == nil {
		p.s.writes = map[int64][]byte{}
	}
	p.s.writes[p.off+off] = bytes.Clone(b)
	return len(b), nil
}
func (recordPiece) MarkComplete() error    { return nil }
func (recordPiece) MarkNotComplete() error { return nil }
func (recordPiece) Completion() storage.Completion {
	return storage.Completion{Ok: true}
}

// partsConn is a torrent of 3 pieces of 128 KiB in chunks of 64 KiB (the last piece 5000 bytes
// short), over store, and a connection to a peer that has it all, unchokes us and serves requests
// of at most maxRequest bytes (0: said nothing). The caller holds the client lock.
func partsConn(t *testing.T, store storage.ClientImpl, maxRequest int) (*Client, *Torrent, *PeerConn) {
	return partsConnPieces(t, store, maxRequest, 3)
}

// partsConnPieces is partsConn with the given number of pieces.
func partsConnPieces(t *testing.T, store storage.ClientImpl, maxRequest, pieces int) (*Client, *Torrent, *PeerConn) {
	t.Helper()
	const pieceLength = 128 << 10
	info := metainfo.Info{Name: "test", PieceLength: pieceLength, Length: int64(pieces)*pieceLength - 5000, Pieces: make([]byte, 20*pieces)}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(TestingConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	tor, _ := cl.AddTorrentOpt(AddTorrentOpts{
		InfoHash:  metainfo.HashBytes(infoBytes),
		InfoBytes: infoBytes,
		Storage:   store,
		ChunkSize: 64 << 10,
	})
	tor.DownloadAll()
	cl.lock()
	cl.config.PeerWriteTimeout = 0
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	p.initMessageWriter()
	tor.conns[p] = struct{}{}
	p.PeerExtensionBytes.SetBit(pp.ExtensionBitFast, true)
	d := pp.ExtendedHandshakeMessage{MaxRequest: maxRequest, Reqq: 100}
	p.onPeerMaxRequest(&d)
	p.PeerMaxRequests = maxRequests(d.Reqq)
	if err := p.onPeerSentHaveAll(); err != nil {
		t.Fatal(err)
	}
	p.peerChoking = false
	p.requestState.Interested = true
	t.Cleanup(func() {
		delete(tor.conns, p)
		p.deleteAllRequests("test end")
		p.needRequestUpdate = ""
		cl.unlock()
	})
	return cl, tor, p
}

// written decodes the messages in p's write buffer and empties it.
func written(t *testing.T, p *PeerConn) []pp.Message {
	t.Helper()
	buf := p.messageWriter.writeBuffer
	dec := pp.Decoder{R: bufio.NewReader(bytes.NewReader(bytes.Clone(buf.Bytes()))), MaxLength: 1 << 20}
	buf.Reset()
	var out []pp.Message
	for {
		var m pp.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if m.Type == pp.Request || m.Type == pp.Cancel {
			out = append(out, m)
		}
	}
}

// TestRequestPartsOnTheWire (patch 35): a chunk of 64 KiB is asked as one request of a peer that
// says it serves 64 KiB, and as parts of 16 KiB of any other (the last chunk's last part short);
// its cancel goes the same way, and such a peer's reqq counts parts.
func TestRequestPartsOnTheWire(t *testing.T) {
	const short = 64<<10 - 5000
	for _, tc := range []struct {
		name       string
		maxRequest int
		chunk      RequestIndex // of the torrent's 6
		want       []pp.Integer // lengths asked, from the chunk's start
		wantReqq   maxRequests
	}{
		{"a peer that said nothing", 0, 1, []pp.Integer{16 << 10, 16 << 10, 16 << 10, 16 << 10}, 25},
		{"a peer that serves 16 KiB", 16 << 10, 1, []pp.Integer{16 << 10, 16 << 10, 16 << 10, 16 << 10}, 25},
		{"the last, short chunk", 0, 5, []pp.Integer{16 << 10, 16 << 10, 16 << 10, short - 48<<10}, 25},
		{"a peer that serves 64 KiB", 64 << 10, 1, []pp.Integer{64 << 10}, 100},
		{"a peer that serves more", 1 << 20, 5, []pp.Integer{short}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, tor, p := partsConn(t, emptyStorage{}, tc.maxRequest)
			if p.PeerMaxRequests != tc.wantReqq {
				t.Errorf("reqq 100 became %d requests, want %d", p.PeerMaxRequests, tc.wantReqq)
			}
			written(t, p)
			if _, err := p.request(tc.chunk, 10); err != nil {
				t.Fatal(err)
			}
			chunk := tor.requestIndexToRequest(tc.chunk)
			for _, typ := range []pp.MessageType{pp.Request, pp.Cancel} {
				if typ == pp.Cancel {
					p.cancel(tc.chunk)
				}
				got := written(t, p)
				if len(got) != len(tc.want) {
					t.Fatalf("%v: %d messages %v, want %d", typ, len(got), got, len(tc.want))
				}
				begin := chunk.Begin
				for i, m := range got {
					if m.Type != typ || m.Index != chunk.Index || m.Begin != begin || m.Length != tc.want[i] {
						t.Errorf("%v %d: %v, want piece %d at %d, %d bytes", typ, i, m, chunk.Index, begin, tc.want[i])
					}
					begin += tc.want[i]
				}
			}
		})
	}
}

// TestPartsGatherIntoChunk (patch 35): parts of a chunk asked as parts are gathered, in any order,
// and the chunk is written whole once the last is in; a part twice, a part of a chunk not asked
// for, and the answers to a rejected chunk's other parts are dropped; a part that is not one is
// an error.
func TestPartsGatherIntoChunk(t *testing.T) {
	store := &recordStorage{}
	_, tor, p := partsConn(t, store, 0)
	written(t, p)
	const ri = RequestIndex(2) // piece 1's first chunk: torrent bytes 128 KiB to 192 KiB
	if _, err := p.request(ri, 10); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 64<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	part := func(i int) *pp.Message {
		return &pp.Message{Type: pp.Piece, Index: 1, Begin: pp.Integer(i) << 14, Piece: bytes.Clone(payload[i<<14 : (i+1)<<14])}
	}
	for _, i := range []int{2, 0, 0, 3} {
		if err := p.onReadPiece(part(i)); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	if w := store.written(); len(w) != 0 {
		t.Fatalf("%d writes before the last part", len(w))
	}
	if got := len(p.parts); got != 1 {
		t.Fatalf("%d chunks being gathered, want 1", got)
	}
	bad := &pp.Message{Type: pp.Piece, Index: 1, Begin: 1000, Piece: make([]byte, 16<<10)}
	if err := p.onReadPiece(bad); err == nil {
		t.Fatal("a part at 1000 bytes into a chunk was taken")
	}
	// A part of a chunk never asked for is an error, as a whole chunk would be; nothing gathered.
	other := &pp.Message{Type: pp.Piece, Index: 2, Begin: 0, Piece: make([]byte, 16<<10)}
	if err := p.onReadPiece(other); err == nil {
		t.Fatal("a part of a chunk never asked for was taken")
	}
	if p.onReadReject(Request{Index: 2, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}) {
		t.Fatal("a reject of a part never asked for was valid")
	}
	if err := p.onReadPiece(part(1)); err != nil {
		t.Fatal(err)
	}
	w := store.written()
	if len(w) != 1 || !bytes.Equal(w[128<<10], payload) {
		t.Fatalf("writes %d, at 128 KiB %d bytes equal %v; want the chunk whole, once", len(w), len(w[128<<10]), bytes.Equal(w[128<<10], payload))
	}
	if len(p.parts) != 0 || p.requestState.Requests.Contains(ri) {
		t.Fatalf("after the chunk: %d gathering, request outstanding %v", len(p.parts), p.requestState.Requests.Contains(ri))
	}

	// A reject of one part rejects the chunk; the peer's answers to its other parts are dropped.
	const rj = RequestIndex(4) // piece 2's first chunk
	if _, err := p.request(rj, 10); err != nil {
		t.Fatal(err)
	}
	if err := p.onReadPiece(&pp.Message{Type: pp.Piece, Index: 2, Begin: 0, Piece: make([]byte, 16<<10)}); err != nil {
		t.Fatal(err)
	}
	reject := func(i int) Request {
		return Request{Index: 2, ChunkSpec: ChunkSpec{Begin: pp.Integer(i) << 14, Length: 16 << 10}}
	}
	if !p.onReadReject(reject(1)) {
		t.Fatal("a reject of an asked part was invalid")
	}
	if p.requestState.Requests.Contains(rj) || len(p.parts) != 0 {
		t.Fatalf("after the reject: request outstanding %v, %d gathering", p.requestState.Requests.Contains(rj), len(p.parts))
	}
	// Until parts 2 and 3 are answered the chunk is not asked again of this peer: a late answer
	// would take a new request for its own.
	if !p.requestState.Cancelled.Contains(rj) || p.partAcks[rj] != 0b1100 {
		t.Fatalf("after the reject: cancelled %v, answers due %b; want true, 1100", p.requestState.Cancelled.Contains(rj), p.partAcks[rj])
	}
	if !p.onReadReject(reject(2)) {
		t.Fatal("a second part's reject was invalid")
	}
	if err := p.onReadPiece(&pp.Message{Type: pp.Piece, Index: 2, Begin: 3 << 14, Piece: make([]byte, 16<<10)}); err != nil {
		t.Fatal(err)
	}
	if len(p.parts) != 0 || len(store.written()) != 1 {
		t.Fatalf("a rejected chunk's last part: %d gathering, %d writes", len(p.parts), len(store.written()))
	}
	if p.requestState.Cancelled.Contains(rj) || p.validReceiveChunks[rj] != 0 {
		t.Fatalf("every part answered: cancelled %v, %d expected", p.requestState.Cancelled.Contains(rj), p.validReceiveChunks[rj])
	}
	if p.onReadReject(reject(2)) {
		t.Fatal("a reject of a part answered already was valid")
	}
	if p.onReadReject(Request{Index: 2, ChunkSpec: ChunkSpec{Begin: 100, Length: 16 << 10}}) {
		t.Fatal("a reject of no part was valid")
	}
	_ = tor
}

// TestPartsCancelAcknowledged (patch 35): a cancel of a chunk asked as parts cancels the parts not
// in yet, and the chunk stays cancelled (not asked again of the peer) until the peer has answered
// each of them, by a piece or a reject; a piece that is not due changes nothing, a reject that is
// not due is invalid. Before, a late
// reject of a cancelled part took a new request of the same chunk for its own.
func TestPartsCancelAcknowledged(t *testing.T) {
	_, _, p := partsConn(t, emptyStorage{}, 0)
	written(t, p)
	const ri = RequestIndex(2)
	if _, err := p.request(ri, 10); err != nil {
		t.Fatal(err)
	}
	written(t, p)
	if err := p.onReadPiece(&pp.Message{Type: pp.Piece, Index: 1, Begin: 0, Piece: make([]byte, 16<<10)}); err != nil {
		t.Fatal(err)
	}
	if since := time.Since(p.lastUsefulChunkReceived); since > time.Minute {
		t.Fatalf("a part received is no useful data: last useful %v ago", since)
	}
	p.cancel(ri)
	var begins []pp.Integer
	for _, m := range written(t, p) {
		if m.Type == pp.Cancel {
			begins = append(begins, m.Begin)
		}
	}
	if want := []pp.Integer{16 << 10, 32 << 10, 48 << 10}; !slices.Equal(begins, want) {
		t.Fatalf("cancels at %v, want the parts not in, %v", begins, want)
	}
	part := func(i int) Request {
		return Request{Index: 1, ChunkSpec: ChunkSpec{Begin: pp.Integer(i) << 14, Length: 16 << 10}}
	}
	steps := []struct {
		what      string
		do        func() bool
		cancelled bool // still awaiting answers after
	}{
		{"a reject of part 1", func() bool { return p.onReadReject(part(1)) }, true},
		{"part 1's reject again, not due (invalid, as upstream's)", func() bool { return !p.onReadReject(part(1)) }, true},
		{"part 0, not due", func() bool {
			return p.onReadPiece(&pp.Message{Type: pp.Piece, Index: 1, Begin: 0, Piece: make([]byte, 16<<10)}) == nil
		}, true},
		{"part 2's data", func() bool {
			return p.onReadPiece(&pp.Message{Type: pp.Piece, Index: 1, Begin: 2 << 14, Piece: make([]byte, 16<<10)}) == nil
		}, true},
		{"a reject of part 3", func() bool { return p.onReadReject(part(3)) }, false},
	}
	for _, s := range steps {
		if !s.do() {
			t.Fatalf("%s: refused", s.what)
		}
		if got := p.requestState.Cancelled.Contains(ri); got != s.cancelled {
			t.Fatalf("after %s: cancelled %v, want %v", s.what, got, s.cancelled)
		}
	}
	if n := p.validReceiveChunks[ri]; n != 0 || len(p.partAcks) != 0 {
		t.Fatalf("after every answer: %d chunks expected, %d chunks awaiting answers", n, len(p.partAcks))
	}
}

// TestPartsOfTooManyChunks (patch 35): a peer that begins more than maxGatheringChunks chunks
// without ending one is dropped; the part buffers it made the connection hold stay bounded.
func TestPartsOfTooManyChunks(t *testing.T) {
	_, _, p := partsConnPieces(t, emptyStorage{}, 0, 12)
	const limit = 2 * maxGatheringChunks
	for ri := RequestIndex(0); ri < maxGatheringChunks+1; ri++ {
		if _, err := p.request(ri, limit); err != nil {
			t.Fatal(err)
		}
	}
	for ri := RequestIndex(0); ri < maxGatheringChunks+1; ri++ {
		err := p.onReadPiece(&pp.Message{Type: pp.Piece, Index: pp.Integer(ri / 2), Begin: pp.Integer(ri%2) << 16, Piece: make([]byte, 16<<10)})
		if ri < maxGatheringChunks && err != nil {
			t.Fatalf("chunk %d's first part: %v", ri, err)
		}
		if ri == maxGatheringChunks && err == nil {
			t.Fatalf("chunk %d's first part taken, with %d chunks begun", ri, len(p.parts))
		}
	}
	if len(p.parts) != maxGatheringChunks {
		t.Fatalf("%d chunks gathered, want %d", len(p.parts), maxGatheringChunks)
	}
}

// TestPeerMaxRequestFromFirstHandshake (patch 35): the longest request a peer serves is read from
// its first extended handshake only (requests already sent as parts are answered as parts), and a
// later handshake without a reqq leaves the queue as it was.
func TestPeerMaxRequestFromFirstHandshake(t *testing.T) {
	_, _, p := partsConn(t, emptyStorage{}, 0) // the first handshake: reqq 100, nothing said
	if p.requestParts() != 4 || p.PeerMaxRequests != 25 {
		t.Fatalf("after the first handshake: %d parts, %d requests", p.requestParts(), p.PeerMaxRequests)
	}
	p.PeerExtensionIDs = map[pp.ExtensionName]pp.ExtensionNumber{} // as the library sets after
	d := pp.ExtendedHandshakeMessage{MaxRequest: 64 << 10}
	p.onPeerMaxRequest(&d)
	if p.requestParts() != 4 || d.Reqq != 0 {
		t.Fatalf("a second handshake saying 64 KiB, no reqq: %d parts, reqq %d; want 4 and 0 (left as it was)", p.requestParts(), d.Reqq)
	}
	d = pp.ExtendedHandshakeMessage{Reqq: 40}
	p.onPeerMaxRequest(&d)
	if d.Reqq != 10 {
		t.Fatalf("a second handshake with reqq 40: %d chunks, want 10", d.Reqq)
	}

	// A peer that unchoked us before its first handshake got its requests as parts; it keeps
	// getting parts, so that their cancels match.
	_, _, late := partsConn(t, emptyStorage{}, 0)
	late.PeerExtensionIDs = nil
	if _, err := late.request(2, 10); err != nil {
		t.Fatal(err)
	}
	late.onPeerMaxRequest(&pp.ExtendedHandshakeMessage{MaxRequest: 64 << 10})
	if late.requestParts() != 4 {
		t.Fatalf("a first handshake after requests went out as parts: %d parts, want 4", late.requestParts())
	}
}
