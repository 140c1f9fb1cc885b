package torrent

import (
	"slices"
	"testing"

	g "github.com/anacrolix/generics"
)

// requestOrder is the order of the pieces a request update to p would ask for. cl is locked.
func requestOrder(p *PeerConn) []int {
	d := p.getDesiredRequestState().Requests
	rh := newRequestRunHeap(&d, false)
	var order []int
	for rh.Len() > 0 {
		if pi := int(p.t.pieceIndexOfRequestIndex(rh.pop())); len(order) == 0 || order[len(order)-1] != pi {
			order = append(order, pi)
		}
	}
	return order
}

// TestPrefixPiecesFirst (distpac patch 42, prefixfirst.go): with PrefixPieces, a leecher asks
// first for that many pieces after those complete from the torrent's start, then the rarest. Here
// pieces 0-3 are the most common, and piece 0 is complete: 1 and 2 come first, 3 last.
func TestPrefixPiecesFirst(t *testing.T) {
	const pieces = 8
	for _, c := range []struct {
		window int
		want   func([]int) bool
		what   string
	}{
		{2, func(o []int) bool { return len(o) == 7 && min(o[0], o[1]) == 1 && max(o[0], o[1]) == 2 && o[6] == 3 }, "1 and 2 (the two after the prefix), the rarest, then 3 (common)"},
		{0, func(o []int) bool { return len(o) == 7 && slices.Contains(o[4:], 1) && slices.Contains(o[4:], 2) }, "the rarest first: 1 and 2 (common) among the last"},
	} {
		cl, tor := testTorrent(t, pieces, emptyStorage{})
		tor.DownloadAll()
		cl.lock()
		cl.config.PrefixPieces = c.window
		tor.setCachedPieceCompletion(0, g.Some(true))
		tor.updatePieceRequestOrderPiece(0)
		for i := 0; i < 4; i++ {
			tor.incPieceAvailability(i)
			tor.incPieceAvailability(i)
		}
		p := cl.newConnection(nil, newConnectionOpts{network: "test"})
		p.setTorrent(tor)
		p.peerSentHaveAll = true
		p.peerChoking = false
		order := requestOrder(p)
		for i := 0; i < 4; i++ {
			tor.piece(i).relativeAvailability = 0
		}
		cl.unlock()
		if !c.want(order) {
			t.Errorf("PrefixPieces %d: pieces asked for in the order %v, want %s", c.window, order, c.what)
		}
	}
}

// TestPrefixEnd: the complete prefix follows completion both ways, a piece found bad moving it
// back.
func TestPrefixEnd(t *testing.T) {
	cl, tor := testTorrent(t, 6, emptyStorage{})
	cl.lock()
	defer cl.unlock()
	set := func(piece int, complete bool) { tor.setCachedPieceCompletion(piece, g.Some(complete)) }
	for _, step := range []struct {
		piece    int
		complete bool
		want     int
	}{
		{1, true, 0}, {0, true, 2}, {3, true, 2}, {2, true, 4}, {1, false, 1}, {1, true, 4}, {4, true, 5}, {5, true, 6},
	} {
		set(step.piece, step.complete)
		if got := tor.prefixEnd(); got != step.want {
			t.Fatalf("piece %d complete %v: prefix %d pieces, want %d", step.piece, step.complete, got, step.want)
		}
	}
}

// TestSuggestionsInIndexOrder (distpac patch 42, suggest.go): a seed assigns the least given
// pieces in index order, each peer a different one.
func TestSuggestionsInIndexOrder(t *testing.T) {
	cl, tor := testTorrent(t, 8, emptyStorage{})
	cl.lock()
	defer cl.unlock()
	cl.config.SuggestPieces = 2
	tor.initSuggestions()
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
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("pieces assigned %v, want %v", got, want)
	}
}
