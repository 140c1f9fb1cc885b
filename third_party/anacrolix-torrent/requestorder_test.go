package torrent

import (
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/torrent/internal/alloclim"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"golang.org/x/time/rate"
)

// TestPeerRequestsServedInOrder: a peer's requests are read and sent in the order it sent them, so
// that its first piece completes first. Upstream took whichever request the map iteration gave
// first, for the read and for the send, so every piece of a peer's queue completed about when the
// whole queue had been sent.
func TestPeerRequestsServedInOrder(t *testing.T) {
	cl, _, p := chunksTorrent(t)
	cl.lock()
	defer cl.unlock()
	cl.config.Seed = true
	cl.config.UploadRateLimiter = rate.NewLimiter(rate.Inf, 0)
	cl.config.MaxAllocPeerRequestDataPerConn = 3*16<<10 - 5000 // three chunks read ahead
	p.peerRequestDataAllocLimiter = &alloclim.Limiter{Max: 1 << 20}
	p.choking = false
	var asked []Request
	for _, c := range [][2]int{{2, 3}, {2, 1}, {2, 0}, {2, 2}, {0, 1}, {0, 3}, {0, 0}, {0, 2}, {1, 2}, {1, 0}, {1, 3}, {1, 1}} {
		r := Request{Index: pp.Integer(c[0]), ChunkSpec: ChunkSpec{Begin: pp.Integer(c[1]) << 14, Length: 16 << 10}}
		if c == [2]int{2, 3} {
			r.Length -= 5000 // the torrent's short last chunk
		}
		if err := p.onReadRequest(r, false); err != nil {
			t.Fatal(err)
		}
		asked = append(asked, r)
	}
	// The request server reads as far as the allowance lets it: the first three asked.
	p.peerRequestServerRunning = true
	cl.unlock()
	p.peerRequestServer()
	cl.lock()
	var read []Request
	for r, s := range p.peerRequests {
		if s.data != nil {
			read = append(read, r)
		}
	}
	slices.SortFunc(read, func(a, b Request) int { return slices.Index(asked, a) - slices.Index(asked, b) })
	if !slices.Equal(read, asked[:3]) {
		t.Fatalf("the request server read %v, want the first three asked %v", read, asked[:3])
	}
	var sent []Request
	msg := func(m pp.Message) bool {
		if m.Type == pp.Piece {
			sent = append(sent, Request{Index: m.Index, ChunkSpec: ChunkSpec{Begin: m.Begin, Length: pp.Integer(len(m.Piece))}})
		}
		return true
	}
	// Each send starts the request server again for the next; it waits for the client lock.
	for deadline := time.Now().Add(10 * time.Second); len(sent) < len(asked) && time.Now().Before(deadline); {
		p.upload(msg)
		cl.unlock()
		time.Sleep(time.Millisecond)
		cl.lock()
	}
	if !slices.Equal(sent, asked) {
		t.Fatalf("sent %v\nwant the order asked %v", sent, asked)
	}
}
