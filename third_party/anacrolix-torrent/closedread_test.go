package torrent

import (
	"context"
	"testing"

	"github.com/anacrolix/torrent/internal/alloclim"
)

// TestReadFailureOnClosedTorrent (patch 27): a chunk read that fails because the torrent was
// closed meanwhile (distpac drops a torrent to restart a stalled download, which closes its
// storage) removes the peer's request. Upstream returned early for a closed torrent and left it,
// and the request server's check that every request it served was answered or removed panicked,
// taking the process down.
func TestReadFailureOnClosedTorrent(t *testing.T) {
	cl, tor := testTorrent(t, 3, emptyStorage{}) // reads fail
	t.Cleanup(func() { cl.Close() })
	cl.lock()
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	p.peerRequestDataAllocLimiter = &alloclim.Limiter{Max: 1 << 20} // the test config's is 5 bytes
	r := Request{Index: 0, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}
	prs := &peerRequestState{allocReservation: p.peerRequestDataAllocLimiter.Reserve(int64(r.Length))}
	p.peerRequests = map[Request]*peerRequestState{r: prs}
	p.closedCtx, p.closedCtxCancel = context.WithCancel(context.Background())
	cl.unlock()
	tor.Drop() // as a stall restart does, while the read is under way
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("serving a request of a closed torrent whose read failed panicked: %v", v)
			}
		}()
		p.servePeerRequest(r, prs)
	}()
	cl.lock()
	defer cl.unlock()
	if _, ok := p.peerRequests[r]; ok {
		t.Fatal("the failed request is still held")
	}
}

// TestCancelOfReadyDataRestartsServer (patch 28): a peer's request server stops while the data read
// and not yet sent reaches the connection's allowance (patch 1), and the upload path starts it again
// after a send. Ready data can also leave unsent, when the peer cancels it; then the server must
// start again for the requests behind, or they waited for the peer's next request (found by a
// helper's audit: a downloader that got those pieces elsewhere cancels exactly the ready ones, since
// requests are served oldest first, and asks for nothing more while its others are queued).
func TestCancelOfReadyDataRestartsServer(t *testing.T) {
	cl, tor := testTorrent(t, 3, patternStorage{})
	t.Cleanup(func() { cl.Close() })
	cl.lock()
	defer cl.unlock()
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	ready := Request{Index: 0, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}
	behind := Request{Index: 1, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}
	p.peerRequestDataAllocLimiter = &alloclim.Limiter{Max: 1 << 20}
	p.peerRequests = map[Request]*peerRequestState{
		ready:  {data: make([]byte, 16<<10), allocReservation: p.peerRequestDataAllocLimiter.Reserve(16 << 10)},
		behind: {}, // not taken up yet: unserved
	}
	p.peerRequestReadyBytes, p.peerRequestsUnserved = 16<<10, 1
	p.deletePeerRequest(ready)
	if !p.peerRequestServerRunning {
		t.Fatal("the request server was not started again for the request behind the cancelled one")
	}
	// Leave the server nothing to serve: the test connection cannot send.
	delete(p.peerRequests, behind)
	p.peerRequestsUnserved = 0
	p.closed.Set()
}
