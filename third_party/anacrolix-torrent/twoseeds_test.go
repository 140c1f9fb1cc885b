package torrent

import (
	"slices"
	"testing"
	"time"
)

// TestScarceSeedsAreNotOthers (distpac patches 47 and 48): while the leechers trade, a scarce seed
// is asked only for the pieces no other peer has (patch 11). Another scarce seed with every piece
// is not such a peer: with two (a publisher and its mirror) every piece had another peer, and
// neither was asked for anything. Nor is a peer that chokes us, refuses what it is asked, or was
// asked for a second in all and sent verified pieces at under 64 KiB/s of it: a hostile one
// claiming every piece and never unchoking, or unchoking and never answering, silenced the
// publisher the same way. A seed that is not scarce, or a leecher that serves, still counts.
func TestScarceSeedsAreNotOthers(t *testing.T) {
	const pieces = 16 // over endgamePieces
	upper := []int{8, 9, 10, 11, 12, 13, 14, 15}
	for _, tc := range []struct {
		name       string
		other      func(p *PeerConn) // the other peer, besides a leecher with pieces 0-7
		wantPieces []int
	}{
		{"another scarce seed", func(p *PeerConn) { p.onPeerHasAllPiecesNoTriggers(); p.SetScarceSeed(1) }, upper},
		{"a seed that is not scarce", func(p *PeerConn) { p.onPeerHasAllPiecesNoTriggers() }, nil},
		{"a seed that chokes us", func(p *PeerConn) { p.onPeerHasAllPiecesNoTriggers(); p.peerChoking = true }, upper},
		{"a leecher with pieces 8-11 that chokes us", func(p *PeerConn) { havePieces(p, 8, 12); p.peerChoking = true }, upper},
		{"a leecher with pieces 8-11 that serves", func(p *PeerConn) { havePieces(p, 8, 12) }, []int{12, 13, 14, 15}},
		{"a seed that unchoked and sent nothing in 2 s of being asked", func(p *PeerConn) {
			p.onPeerHasAllPiecesNoTriggers()
			p.cumulativeExpectedToReceiveChunks = 2 * time.Second
		}, upper},
		{"a seed asked for half a second", func(p *PeerConn) {
			p.onPeerHasAllPiecesNoTriggers()
			p.lastStartedExpectingToReceiveChunks = time.Now().Add(-time.Second / 2)
		}, nil},
		// a review: one part sent (of a chunk never completed, never checked), then silence
		{"a seed that sent something once, asked for long", func(p *PeerConn) {
			p.onPeerHasAllPiecesNoTriggers()
			p.cumulativeExpectedToReceiveChunks = time.Minute
			p.lastUsefulChunkReceived = time.Now().Add(-time.Minute)
		}, upper},
		// a review: rejecting every request at once, so as never to be asked for long
		{"a seed that refuses what it is asked", func(p *PeerConn) {
			p.onPeerHasAllPiecesNoTriggers()
			p.rejectsUnchoked = 2
		}, upper},
		{"a seed that sent good pieces at 128 KiB/s of being asked", func(p *PeerConn) {
			p.onPeerHasAllPiecesNoTriggers()
			p.cumulativeExpectedToReceiveChunks = 2 * time.Second
			p._stats.PiecesDirtiedGood.Add(4) // of 64 KiB
		}, nil},
		{"a seed that sent good pieces at 32 KiB/s of being asked", func(p *PeerConn) {
			p.onPeerHasAllPiecesNoTriggers()
			p.cumulativeExpectedToReceiveChunks = 4 * time.Second
			p._stats.PiecesDirtiedGood.Add(2)
		}, upper},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, tor := testTorrent(t, pieces, emptyStorage{})
			t.Cleanup(func() { cl.Close() })
			tor.DownloadAll()
			cl.lock()
			defer cl.unlock()
			connect := func() *PeerConn {
				p := cl.newConnection(nil, newConnectionOpts{network: "test"})
				p.setTorrent(tor)
				tor.conns[p] = struct{}{}
				p.peerChoking = false
				return p
			}
			havePieces(connect(), 0, 8) // a leecher that serves has the first half
			t.Cleanup(func() {
				for c := range tor.conns {
					c.onPeerHasAllPiecesNoTriggers() // gives the availability back
					delete(tor.connsWithAllPieces, &c.Peer)
				}
				clear(tor.conns)
			})
			tor.noteOthersDelivered(1<<30, time.Now()) // the leechers deliver
			publisher := connect()
			publisher.onPeerHasAllPiecesNoTriggers()
			publisher.SetScarceSeed(1)
			tc.other(connect())
			got := requestOrder(publisher)
			slices.Sort(got)
			if !slices.Equal(got, tc.wantPieces) {
				t.Errorf("the publisher is asked for pieces %v, want %v (those no other peer would serve)", got, tc.wantPieces)
			}
		})
	}
}

// havePieces has p announce pieces [from, to).
func havePieces(p *PeerConn, from, to int) {
	for i := from; i < to; i++ {
		p._peerPieces.Add(uint32(i))
		p.t.incPieceAvailability(i)
	}
}

// TestMirrorSuggestsFromTheEnd (distpac patch 47): a seed with SuggestFromEnd (a mirror) gives its
// pieces out from the last one down, and any seed skips, as if it had given it once, a piece a
// peer got from elsewhere (the other seed): its pieces and the publisher's then meet once. Among
// pieces given as often, the one fewer peers have goes first, then index order; a piece first given
// out that a peer has counts as given twice then, so that no piece goes out twice while others
// went out once.
func TestMirrorSuggestsFromTheEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fromEnd bool
		had     []int // pieces a peer of the seed got from another seed
		before  []int // pieces the seed gave out before (to a mirror that downloaded)
		want    []int
	}{
		{"publisher", false, nil, nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 0, 1}},
		{"mirror", true, nil, nil, []int{7, 6, 5, 4, 3, 2, 1, 0, 7, 6}},
		{"publisher, the mirror's pieces arriving", false, []int{1, 3}, nil, []int{0, 2, 4, 5, 6, 7, 0, 1, 2, 3}},
		{"mirror, the publisher's pieces arriving", true, []int{7, 0, 1}, nil, []int{6, 5, 4, 3, 2, 7, 6, 5, 4, 3}},
		// a review: a peer that claims every piece but one had the publisher give each piece to
		// two peers in a row
		{"a peer claiming all pieces but one", false, []int{0, 1, 2, 3, 4, 5, 6}, nil, []int{7, 0, 1, 2, 3, 4, 5, 6, 7, 0}},
		{"publisher, after its mirror's download", false, nil, []int{0, 1, 2, 3, 4, 5, 6, 7}, []int{0, 1, 2, 3, 4, 5, 6, 7, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, tor := testTorrent(t, 8, emptyStorage{})
			t.Cleanup(func() { cl.Close() })
			cl.lock()
			defer cl.unlock()
			cl.config.SuggestPieces = 2
			cl.config.SuggestFromEnd = tc.fromEnd
			tor.initSuggestions()
			for _, i := range tc.before {
				tor.giveOut(i)
			}
			for _, i := range tc.had {
				tor.incPieceAvailability(i)
			}
			t.Cleanup(func() {
				for i := range tor.numPieces() {
					tor.piece(i).relativeAvailability = 0
				}
			})
			var got []int
			for range 5 {
				p := cl.newConnection(nil, newConnectionOpts{network: "test"})
				p.setTorrent(tor)
				for range 2 {
					pi := p.leastGivenPiece()
					got = append(got, pi)
					p.suggestOut.Add(uint32(pi))
					tor.giveOut(pi)
					tor.incPieceAvailability(pi) // delivered before the next is given out
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("pieces assigned %v, want %v", got, tc.want)
			}
		})
	}
}
