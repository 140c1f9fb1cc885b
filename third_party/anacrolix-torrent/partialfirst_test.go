package torrent

import (
	"testing"
)

// TestSeedCompletesBegunPiece (distpac patch 31, requesting.go): from a seed that suggests pieces,
// the pieces begun are asked for before the suggested ones. A queue that ended inside an
// unsuggested piece left the rest of it behind every piece suggested later, and often only the
// seed could complete it (bench-net N=32, 100 ms: 25 pieces finished 11-17 s after their first
// chunk).
func TestSeedCompletesBegunPiece(t *testing.T) {
	const pieces = 8
	cl, tor := testTorrent(t, pieces, emptyStorage{})
	tor.DownloadAll()
	cl.lock()
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	p.peerSentHaveAll = true
	p.peerChoking = false
	p.suggestedSeq = make([]uint32, pieces)
	p.suggestedSeq[5] = 1
	tor.dirtyChunks.Add(tor.pieceRequestIndexBegin(2)) // begun, nobody else has it
	tor.dirtyChunks.Add(tor.pieceRequestIndexBegin(3)) // begun, another peer has it too
	tor.incPieceAvailability(3)
	tor.updatePieceRequestOrderPiece(2) // as a chunk written does
	d := p.getDesiredRequestState().Requests
	rh := newRequestRunHeap(&d, false)
	var order []int
	for rh.Len() > 0 {
		if pi := int(tor.pieceIndexOfRequestIndex(rh.pop())); len(order) == 0 || order[len(order)-1] != pi {
			order = append(order, pi)
		}
	}
	tor.piece(3).relativeAvailability = 0
	cl.unlock()
	if len(order) < 4 || order[0] != 2 || order[1] != 3 || order[2] != 5 {
		t.Fatalf("pieces asked for in the order %v, want 2 and 3 (begun; the rarest first), then 5 (suggested)", order)
	}
	for _, pi := range order[3:] {
		if pi == 2 || pi == 3 || pi == 5 {
			t.Fatalf("pieces asked for in the order %v: a piece twice", order)
		}
	}
}
