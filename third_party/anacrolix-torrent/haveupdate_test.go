package torrent

import (
	"testing"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestHaveUpdatesOnlyAnIdleQueue (patch 9): a have for a wanted piece updates the connection's
// requests only when nothing is queued at the peer or interest is not shown yet; with requests
// queued the piece waits for the update on the emptied queue. Upstream updated on every have, a
// scan over every piece: the largest share of a swarm client's request updates. A have of a piece
// no other peer has updates them in any case (patch 45).
func TestHaveUpdatesOnlyAnIdleQueue(t *testing.T) {
	for _, tc := range []struct {
		name       string
		interested bool
		queued     bool
		others     int  // other partial peers that have the piece
		seed       bool // a seed is connected too
		want       bool
	}{
		{"interest not shown", false, false, 2, false, true},
		{"interested, nothing queued", true, false, 2, false, true},
		{"interested, requests queued", true, true, 2, false, false},
		{"interested, requests queued, a piece no other peer has (patch 45)", true, true, 0, false, true},
		{"interested, requests queued, a piece no other partial peer has (patch 45)", true, true, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, tor := testTorrent(t, 8, emptyStorage{})
			t.Cleanup(func() { cl.Close() })
			tor.DownloadAll()
			cl.lock()
			defer cl.unlock()
			p := cl.newConnection(nil, newConnectionOpts{network: "test"})
			p.setTorrent(tor)
			p.requestState.Interested = tc.interested
			p.PeerMaxRequests, p.peakRequests = 64, 32 // room for 64 requests: one queued is not full
			if tc.queued {
				p.requestState.Requests.Add(tor.pieceRequestIndexBegin(0))
			}
			tor.pieces[3].relativeAvailability = tc.others
			if tc.seed {
				s := cl.newConnection(nil, newConnectionOpts{network: "test"})
				tor.connsWithAllPieces = map[*Peer]struct{}{&s.Peer: {}}
				defer func() { tor.connsWithAllPieces = nil }()
			}
			// Undo at the end, so that neither the deferred update nor the close's checks see a
			// connection the torrent does not hold.
			defer func() {
				p.requestState.Requests.CheckedRemove(tor.pieceRequestIndexBegin(0))
				p.peerSentHaveNone()
				tor.pieces[3].relativeAvailability = 0
				p.needRequestUpdate = ""
			}()
			if err := p.peerSentHave(3); err != nil {
				t.Fatal(err)
			}
			if got := p.needRequestUpdate != ""; got != tc.want {
				t.Fatalf("request update wanted: %v (%q), want %v", got, p.needRequestUpdate, tc.want)
			}
		})
	}
}

// TestHaveKeptThroughCancelAcks (patch 9): a have skipped while the only requests at the peer are
// cancels awaiting the peer's reject is considered when the last reject arrives. The update on
// that emptied queue ran with the reject reason, which adds no requests, so the connection sat idle
// with a wanted piece at the peer and no update pending (found by a review: an endgame steal
// cancels at a fast-extension peer, which then announces its last piece).
func TestHaveKeptThroughCancelAcks(t *testing.T) {
	cl, tor := testTorrent(t, 8, emptyStorage{})
	t.Cleanup(func() { cl.Close() })
	tor.DownloadAll()
	cl.lock()
	defer cl.unlock()
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	cl.config.PeerWriteTimeout = 0
	p.initMessageWriter()
	tor.conns[p] = struct{}{}
	defer func() {
		delete(tor.conns, p)
		p.deleteAllRequests("test end")
		p.requestState.Cancelled.Clear()
		p.peerSentHaveNone()
		p.needRequestUpdate = ""
	}()
	p.PeerExtensionBytes.SetBit(pp.ExtensionBitFast, true)
	p.PeerMaxRequests, p.peakRequests = 64, 32
	p.peerChoking = false
	if err := p.peerSentHave(0); err != nil {
		t.Fatal(err)
	}
	p.maybeUpdateActualRequestState()
	var queued []RequestIndex
	p.requestState.Requests.Iterate(func(r RequestIndex) bool {
		queued = append(queued, r)
		return true
	})
	if len(queued) == 0 {
		t.Fatal("no requests for piece 0")
	}
	// Piece 3 is announced while piece 0's requests are queued: skipped for now.
	if err := p.peerSentHave(3); err != nil {
		t.Fatal(err)
	}
	p.maybeUpdateActualRequestState()
	// Piece 0's requests are cancelled (an endgame steal); the peer acknowledges each with a reject.
	for _, r := range queued {
		p.cancel(r)
	}
	for _, r := range queued {
		if !p.remoteRejectedRequest(r) {
			t.Fatalf("reject of %v not taken as the ack of the cancel", r)
		}
	}
	p.maybeUpdateActualRequestState()
	// Pieces 0 and 3 are wanted; which the update asks for first depends on the request order.
	if p.requestState.Requests.IsEmpty() {
		t.Fatalf("after the acks: no request queued and update pending %q: the connection is idle with wanted pieces at the peer",
			p.needRequestUpdate)
	}
}
