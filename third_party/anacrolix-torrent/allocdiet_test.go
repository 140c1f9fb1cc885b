package torrent

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// countingStorage is patternStorage counting the pieces it makes.
type countingStorage struct{ made *atomic.Int64 }

func (s countingStorage) OpenTorrent(_ context.Context, info *metainfo.Info, _ metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl {
			s.made.Add(1)
			return patternPiece{p.Offset(), p.Length()}
		},
		Close: func() error { return nil },
	}, nil
}

// TestPieceStorageMadeOnce (patch 23): a piece's storage view is made at its first use and
// kept, and it is the piece's own view (offset and length) that is kept. (Counted views, not
// testing.AllocsPerRun: the client's goroutines allocate meanwhile.)
func TestPieceStorageMadeOnce(t *testing.T) {
	var made atomic.Int64
	cl, tor := testTorrent(t, 3, countingStorage{&made})
	defer cl.Close()
	for i := range 3 {
		tor.piece(i).Storage() // first use: made here or by the torrent's initial check
	}
	before := made.Load()
	for range 5 {
		for i := range 3 {
			got := tor.piece(i).Storage()
			pp, ok := got.PieceImpl.(patternPiece)
			if !ok || pp.off != int64(i)*64<<10 || pp.len != tor.info.Piece(i).Length() {
				t.Fatalf("piece %d: storage view %#v", i, got.PieceImpl)
			}
		}
	}
	if n := made.Load() - before; n != 0 {
		t.Errorf("%d storage views made for 3 pieces used 5 more times each, want 0", n)
	}
}

type deferTarget struct{ a, b int }

func (d *deferTarget) incA() { d.a++ }
func (d *deferTarget) incB() { d.b++ }

// TestDeferUniqueMethod (patch 23): an action deferred twice with the same receiver runs
// once at unlock; two methods of one receiver are two actions (upstream's key, the func's
// reflect string, was the same for every func()); after the unlock it can be deferred again.
func TestDeferUniqueMethod(t *testing.T) {
	var l lockWithDeferreds
	var x, y deferTarget
	l.Lock()
	deferUniqueMethod(&l, &x, (*deferTarget).incA)
	deferUniqueMethod(&l, &x, (*deferTarget).incA)
	deferUniqueMethod(&l, &x, (*deferTarget).incB)
	deferUniqueMethod(&l, &y, (*deferTarget).incA)
	if x.a != 0 {
		t.Fatal("ran before the unlock")
	}
	l.Unlock()
	if x.a != 1 || x.b != 1 || y.a != 1 || y.b != 0 {
		t.Fatalf("after one unlock: x %+v, y %+v; want x {1 1}, y {1 0}", x, y)
	}
	l.Lock()
	for range 100 {
		deferUniqueMethod(&l, &x, (*deferTarget).incA)
	}
	if len(l.unlockActions) != 1 {
		t.Errorf("one action deferred 100 times: %d actions queued, want 1", len(l.unlockActions))
	}
	l.Unlock()
	if x.a != 2 {
		t.Fatalf("after the second unlock x.a = %d, want 2", x.a)
	}
	// The same through the library's DeferUniqueUnaryFunc, with method values.
	l.Lock()
	l.DeferUniqueUnaryFunc(&y, y.incB)
	l.DeferUniqueUnaryFunc(&y, y.incA)
	l.DeferUniqueUnaryFunc(&y, y.incB)
	l.Unlock()
	if y.a != 2 || y.b != 1 {
		t.Fatalf("DeferUniqueUnaryFunc: y %+v, want {2 1}", y)
	}
}
