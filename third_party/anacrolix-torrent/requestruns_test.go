package torrent

import (
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
	"unique"
	"weak"

	"github.com/anacrolix/generics/heap"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// emptyStorage holds no data and knows it: every piece is incomplete, so every piece is
// requestable without a hash check.
type emptyStorage struct{}

func (emptyStorage) OpenTorrent(context.Context, *metainfo.Info, metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{
		Piece: func(metainfo.Piece) storage.PieceImpl { return emptyPiece{} },
		Close: func() error { return nil },
	}, nil
}

type emptyPiece struct{}

func (emptyPiece) ReadAt([]byte, int64) (int, error)      { return 0, io.EOF }
func (emptyPiece) WriteAt(b []byte, _ int64) (int, error) { return len(b), nil }
func (emptyPiece) MarkComplete() error                    { return nil }
func (emptyPiece) MarkNotComplete() error                 { return nil }
func (emptyPiece) Completion() storage.Completion         { return storage.Completion{Ok: true} }

// TestRequestRunsKeepOrder: the heap of runs (patch 14) pops an update's candidate requests in
// the order a heap of every candidate ordered by lessByValue pops them, over random states:
// chunks received, requested by this peer, by another peer or cancelled; pieces of different
// priority, availability and suggestion order; the peer choking with allowed-fast pieces; and
// webseed requests active, which reverses the order within a piece.
func TestRequestRunsKeepOrder(t *testing.T) {
	const pieces = 37
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 14))
		choking, webseeds := seed%4 == 1, seed%4 == 2
		cl, tor := testTorrent(t, pieces, emptyStorage{})
		tor.DownloadAll()
		for i := range pieces {
			switch rng.IntN(6) {
			case 0:
				tor.Piece(i).SetPriority(PiecePriorityHigh)
			case 1:
				tor.Piece(i).SetPriority(PiecePriorityNone)
			}
		}

		cl.lock()
		p := cl.newConnection(nil, newConnectionOpts{network: "test"})
		p.setTorrent(tor)
		q := cl.newConnection(nil, newConnectionOpts{network: "test"})
		q.setTorrent(tor)
		p.peerSentHaveAll = true
		p.peerChoking = choking
		p.suggestedSeq = make([]uint32, pieces)
		for i := range pieces {
			for range rng.IntN(4) {
				tor.incPieceAvailability(i)
			}
			if choking && rng.IntN(3) == 0 {
				p.peerAllowedFast.Add(i)
			}
			if rng.IntN(4) == 0 {
				p.suggestedSeq[i] = uint32(1 + rng.IntN(10))
			}
		}
		base := time.Now()
		for r := range tor.maxEndRequest() {
			when := base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			switch rng.IntN(10) {
			case 0:
				tor.dirtyChunks.Add(r)
			case 1:
				tor.requestState[r] = requestState{peer: weak.Make(p), when: when}
				p.requestState.Requests.Add(r)
			case 2:
				tor.requestState[r] = requestState{peer: weak.Make(q), when: when}
				q.requestState.Requests.Add(r)
			case 3:
				p.requestState.Cancelled.Add(r)
			}
		}
		if webseeds {
			tor.webSeeds = map[webseedUrlKey]*webseedPeer{
				webseedUrlKey(unique.Make("http://test/")): {activeRequests: map[*webseedRequest]struct{}{{}: {}}},
			}
		}

		d := p.getDesiredRequestState().Requests
		all := slices.Clone(d.requestIndexes)
		want := make([]RequestIndex, 0, len(all))
		h := heap.InterfaceForSlice(&all, d.lessByValue)
		heap.Init(h)
		for h.Len() > 0 {
			want = append(want, heap.Pop(h))
		}
		runs := len(d.runs)
		rh := newRequestRunHeap(&d, tor.hasActiveWebseedRequests())
		got := make([]RequestIndex, 0, len(want))
		for rh.Len() > 0 {
			got = append(got, rh.pop())
		}
		// q is held only through weak pointers (requestState.peer) and is no connection of the
		// torrent, so a collection while the heaps were built made its requests unrequested
		// between the two (seen once in a make test; every time with runtime.GC() between them).
		runtime.KeepAlive(q)
		// Undo what the engine would have counted itself, which its close checks.
		tor.webSeeds = nil
		for i := range pieces {
			tor.piece(i).relativeAvailability = 0
		}
		clear(tor.requestState)
		cl.unlock()
		cl.Close()

		if len(want) == 0 || runs >= len(want) {
			t.Fatalf("seed %d: %d candidates in %d runs: the state tests nothing", seed, len(want), runs)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d (choking %v, webseeds %v): runs popped\n%v\nwant\n%v", seed, choking, webseeds, got, want)
		}
	}
}
