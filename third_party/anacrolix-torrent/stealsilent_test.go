package torrent

import (
	"testing"
	"time"
)

// TestSilentPeerRequestsStolen (patch 29): before the endgame a peer's requests are stolen only from
// a peer that has been expected to send for silentPeerAfter and sent nothing. Before the patch they
// never were until the last 8 pieces, so a peer that went silent with its connection open kept
// them.
func TestSilentPeerRequestsStolen(t *testing.T) {
	for _, tc := range []struct {
		name        string
		quietFor    time.Duration // since the holder was first expected to send
		wantStolen  bool
		holderSends bool // the holder sent a useful chunk just now
	}{
		{"holder silent for 6 s", 6 * time.Second, true, false},
		{"holder asked 1 s ago", time.Second, false, false},
		{"holder asked 6 s ago, sending", 6 * time.Second, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, holder, other := silentPair(t)
			cl.lock()
			defer cl.unlock()
			holder.lastStartedExpectingToReceiveChunks = time.Now().Add(-tc.quietFor)
			if tc.holderSends {
				holder.lastUsefulChunkReceived = time.Now()
			}
			other.PeerMaxRequests, other.peakRequests = 4, 2
			if err := other.peerSentHave(0); err != nil {
				t.Fatal(err)
			}
			other.needRequestUpdate = ""
			other.updateRequests()
			stolen := other.requestState.Requests.GetCardinality() > 0
			if stolen != tc.wantStolen {
				t.Fatalf("the other peer took %d of the holder's requests (holder keeps %d); want stolen %v",
					other.requestState.Requests.GetCardinality(), holder.requestState.Requests.GetCardinality(), tc.wantStolen)
			}
		})
	}
}

// silentPair is a torrent of 256 pieces that a holder and an other peer both have piece 0 of, the
// holder having asked for all of piece 0, unlocked; the other peer is to announce it.
func silentPair(t *testing.T) (*Client, *PeerConn, *PeerConn) {
	cl, tor := testTorrent(t, 256, emptyStorage{})
	t.Cleanup(func() { cl.Close() })
	tor.DownloadAll()
	cl.lock()
	defer cl.unlock()
	cl.config.PeerWriteTimeout = 0
	newPeer := func() *PeerConn {
		p := cl.newConnection(nil, newConnectionOpts{network: "test"})
		p.setTorrent(tor)
		p.initMessageWriter()
		tor.conns[p] = struct{}{}
		p.peerChoking = false
		p.requestState.Interested = true
		return p
	}
	holder, other := newPeer(), newPeer()
	t.Cleanup(func() {
		cl.lock()
		defer cl.unlock()
		for _, p := range []*PeerConn{holder, other} {
			delete(tor.conns, p)
			p.deleteAllRequests("test end")
			p.requestState.Cancelled.Clear()
			p.peerSentHaveNone()
			p.needRequestUpdate = ""
		}
	})
	// The holder has only piece 0 and asks for all of it.
	holder.PeerMaxRequests, holder.peakRequests = 4, 2
	if err := holder.peerSentHave(0); err != nil {
		t.Fatal(err)
	}
	holder.needRequestUpdate = ""
	holder.updateRequests()
	if n := holder.requestState.Requests.GetCardinality(); n != 4 {
		t.Fatalf("the holder asked for %d chunks, want piece 0's 4", n)
	}
	if holder.silentTimer == nil { // patch 49: expected to send, its silence is checked
		t.Fatal("the holder is expected to send and no silence check is armed")
	}
	return cl, holder, other
}

// TestSilentCheckStealsWithoutAnEvent (patch 49): once the holder of a download's requests turns
// silent, its check has the other connections update their requests (their writers do, when
// asked), and they steal, though nothing else happens. Before, the download sat still until
// distpac restarted it.
func TestSilentCheckStealsWithoutAnEvent(t *testing.T) {
	cl, holder, other := silentPair(t)
	cl.lock()
	holder.lastStartedExpectingToReceiveChunks = time.Now().Add(-time.Second) // not silent yet
	other.PeerMaxRequests, other.peakRequests = 4, 2
	if err := other.peerSentHave(0); err != nil {
		t.Fatal(err)
	}
	other.needRequestUpdate = ""
	other.updateRequests()
	if n := other.requestState.Requests.GetCardinality(); n != 0 {
		t.Fatalf("the other peer took %d requests from a holder asked 1 s ago", n)
	}
	holder.lastStartedExpectingToReceiveChunks = time.Now().Add(-6 * time.Second)
	cl.unlock()
	holder.checkSilence() // what its timer runs
	cl.lock()
	defer cl.unlock()
	if other.needRequestUpdate == "" {
		t.Fatal("the holder is silent and the other peer was not asked to update its requests")
	}
	other.needRequestUpdate = ""
	other.updateRequests() // what its writer does when asked
	if n := other.requestState.Requests.GetCardinality(); n == 0 {
		t.Fatal("the other peer updated and took none of the silent holder's requests")
	}
}
