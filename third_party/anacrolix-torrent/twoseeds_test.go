package torrent

import (
	"slices"
	"testing"
	"time"
)

// TestScarceSeedsAreNotOthers (distpac patch 47): while the leechers trade, a scarce seed is asked
// only for the pieces no other peer has (patch 11); another scarce seed with every piece is not
// such a peer. With two (a publisher and its mirror) every piece had another peer, and neither
// was asked for anything; a seed that is not scarce still is one.
func TestScarceSeedsAreNotOthers(t *testing.T) {
	const pieces = 16 // over endgamePieces
	for _, tc := range []struct {
		name       string
		otherSeed  int64 // the second seed's slot rate; 0 for a seed that is not scarce
		wantPieces []int
	}{
		{"another scarce seed", 1, []int{8, 9, 10, 11, 12, 13, 14, 15}},
		{"a seed that is not scarce", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, tor := testTorrent(t, pieces, emptyStorage{})
			t.Cleanup(func() { cl.Close() })
			tor.DownloadAll()
			cl.lock()
			defer cl.unlock()
			for i := range 8 { // a leecher connected has the first half
				tor.incPieceAvailability(i)
			}
			t.Cleanup(func() {
				for i := range 8 {
					tor.piece(i).relativeAvailability = 0
				}
			})
			tor.noteOthersDelivered(1<<30, time.Now()) // the leechers deliver
			seed := func(rate int64) *PeerConn {
				p := cl.newConnection(nil, newConnectionOpts{network: "test"})
				p.setTorrent(tor)
				p.onPeerHasAllPiecesNoTriggers()
				p.peerChoking = false
				p.SetScarceSeed(rate)
				return p
			}
			publisher := seed(1)
			seed(tc.otherSeed)
			got := requestOrder(publisher)
			slices.Sort(got)
			if !slices.Equal(got, tc.wantPieces) {
				t.Errorf("the publisher is asked for pieces %v, want %v (those no leecher has)", got, tc.wantPieces)
			}
		})
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
