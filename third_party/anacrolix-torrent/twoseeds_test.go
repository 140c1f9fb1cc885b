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
// peer got from elsewhere (the other seed): its pieces and the publisher's then meet once.
func TestMirrorSuggestsFromTheEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fromEnd bool
		had     []int // pieces a peer of the seed got from another seed
		want    []int
	}{
		{"publisher", false, nil, []int{0, 1, 2, 3, 4, 5}},
		{"mirror", true, nil, []int{7, 6, 5, 4, 3, 2}},
		{"publisher, the mirror's pieces arriving", false, []int{1, 3}, []int{0, 2, 4, 5, 6, 7}},
		{"mirror, the publisher's pieces arriving", true, []int{7, 0, 1}, []int{6, 5, 4, 3, 2, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, tor := testTorrent(t, 8, emptyStorage{})
			t.Cleanup(func() { cl.Close() })
			cl.lock()
			defer cl.unlock()
			cl.config.SuggestPieces = 2
			cl.config.SuggestFromEnd = tc.fromEnd
			tor.initSuggestions()
			for _, i := range tc.had {
				tor.incPieceAvailability(i)
			}
			t.Cleanup(func() {
				for _, i := range tc.had {
					tor.piece(i).relativeAvailability = 0
				}
			})
			var got []int
			for range 3 {
				p := cl.newConnection(nil, newConnectionOpts{network: "test"})
				p.setTorrent(tor)
				for range 2 {
					pi := p.leastGivenPiece()
					got = append(got, pi)
					p.suggestOut.Add(uint32(pi))
					tor.suggestGiven[pi]++
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("pieces assigned %v, want %v", got, tc.want)
			}
		})
	}
}
