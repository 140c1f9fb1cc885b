package torrent

import (
	"testing"
)

// TestHaveUpdatesOnlyAnIdleQueue (patch 9): a have for a wanted piece updates the connection's
// requests only when nothing is queued at the peer or interest is not shown yet; with requests
// queued the piece waits for the update on the emptied queue. Upstream updated on every have, a
// scan over every piece: the largest share of a swarm client's request updates.
func TestHaveUpdatesOnlyAnIdleQueue(t *testing.T) {
	for _, tc := range []struct {
		name       string
		interested bool
		queued     bool
		want       bool
	}{
		{"interest not shown", false, false, true},
		{"interested, nothing queued", true, false, true},
		{"interested, requests queued", true, true, false},
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
			if err := p.peerSentHave(3); err != nil {
				t.Fatal(err)
			}
			if got := p.needRequestUpdate != ""; got != tc.want {
				t.Fatalf("request update wanted: %v (%q), want %v", got, p.needRequestUpdate, tc.want)
			}
			// Undo, so that neither the deferred update nor the close's checks see a connection
			// the torrent does not hold.
			p.requestState.Requests.CheckedRemove(tor.pieceRequestIndexBegin(0))
			p.peerSentHaveNone()
			p.needRequestUpdate = ""
		})
	}
}
