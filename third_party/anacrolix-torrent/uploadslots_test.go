package torrent

import (
	"context"
	"testing"
	"time"

	"github.com/anacrolix/torrent/internal/alloclim"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// slotConn is a connection of tor whose peer is interested, has nothing the client wants and asked
// for one chunk, read and ready; fast says whether both sides have the fast extension.
func slotConn(t *testing.T, cl *Client, tor *Torrent, p *PeerConn, fast bool) (*PeerConn, Request) {
	t.Helper()
	if p == nil {
		p = cl.newConnection(nil, newConnectionOpts{network: "test"})
		p.setTorrent(tor)
	}
	tor.conns[p] = struct{}{}
	t.Cleanup(func() { delete(tor.conns, p) })
	cl.config.Extensions.SetBit(pp.ExtensionBitFast, true)
	p.PeerExtensionBytes.SetBit(pp.ExtensionBitFast, fast)
	p.peerInterested = true
	p.peerRequests = map[Request]*peerRequestState{}
	p.peerRequestDataAllocLimiter = &alloclim.Limiter{Max: 1 << 20}
	r := Request{Index: 0, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}
	state := &peerRequestState{data: make([]byte, r.Length)}
	state.allocReservation = p.peerRequestDataAllocLimiter.Reserve(int64(r.Length))
	if err := state.allocReservation.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.peerRequests[r] = state
	p.peerRequestReadyBytes += int(r.Length)
	return p, r
}

// messages runs the connection's upload and counts what it wrote, by type.
func messages(p *PeerConn) map[pp.MessageType]int {
	n := map[pp.MessageType]int{}
	p.upload(func(m pp.Message) bool {
		n[m.Type]++
		return true
	})
	return n
}

// TestLeecherUploadSlots (patch 17): a client still downloading serves interested peers in its
// slots whatever they can give back; a peer beyond the slots waits, choked, until a holder's term
// ends or it asks for nothing while it waits, and the holder choked then gets its queued requests
// rejected. Without
// slots, upstream's trade rule chokes a peer that has nothing the client wants.
func TestLeecherUploadSlots(t *testing.T) {
	t.Run("upstream chokes a peer with nothing to give back", func(t *testing.T) {
		cl, tor, p := chunksTorrent(t)
		cl.lock()
		defer cl.unlock()
		cl.config.Seed = false
		a, _ := slotConn(t, cl, tor, p, true)
		a.choking = false
		if got := messages(a); got[pp.Piece] != 0 || got[pp.Choke] != 1 {
			t.Fatalf("wrote %v, want a choke and no chunk", got)
		}
	})
	t.Run("one slot: served in turn", func(t *testing.T) {
		cl, tor, p := chunksTorrent(t)
		cl.lock()
		defer cl.unlock()
		cl.config.Seed = false
		cl.config.LeecherUploadSlots = 1
		if tor.seeding() || p.peerHasWantedPieces() {
			t.Fatal("the test wants a leecher and a peer with nothing it wants")
		}
		a, _ := slotConn(t, cl, tor, p, true)
		b, rb := slotConn(t, cl, tor, nil, true)
		if got := messages(a); got[pp.Unchoke] != 1 || got[pp.Piece] != 1 {
			t.Fatalf("first peer: wrote %v, want an unchoke and its chunk", got)
		}
		if got := messages(b); len(got) != 0 || !b.choking {
			t.Fatalf("second peer while the first holds the slot: wrote %v, choking %v; want nothing, choked", got, b.choking)
		}
		// a asks for more; its term ends while b waits.
		_, ra := slotConn(t, cl, tor, a, true)
		a.unchokedAt = time.Now().Add(-leecherSlotTerm - time.Millisecond)
		if got := messages(a); got[pp.Choke] != 1 || got[pp.Reject] != 1 || got[pp.Piece] != 0 {
			t.Fatalf("first peer after its term: wrote %v, want a choke and its request rejected", got)
		}
		if _, ok := a.peerRequests[ra]; ok {
			t.Fatal("the rejected request is still queued")
		}
		if got := messages(b); got[pp.Unchoke] != 1 || got[pp.Piece] != 1 {
			t.Fatalf("second peer once the slot is free: wrote %v, want an unchoke and its chunk", got)
		}
		if _, ok := b.peerRequests[rb]; ok {
			t.Fatal("the served request is still queued")
		}
		// With nobody waiting, a holder keeps its slot past its term.
		a.peerInterested = false
		slotConn(t, cl, tor, b, true)
		b.unchokedAt = time.Now().Add(-leecherSlotTerm - time.Millisecond)
		if got := messages(b); got[pp.Piece] != 1 || b.choking {
			t.Fatalf("holder past its term with nobody waiting: wrote %v, choking %v", got, b.choking)
		}
		// Within its term, a holder that asks for nothing gives the slot up to a peer that waits.
		b.unchokedAt = time.Now().Add(-leecherSlotIdle - time.Millisecond)
		b.lastPeerRequest, b.lastPeerServed = b.unchokedAt, b.unchokedAt
		a.peerInterested = true
		if got := messages(a); len(got) != 0 || !a.choking {
			t.Fatalf("a waiting peer while the holder asks for nothing: wrote %v, choking %v", got, a.choking)
		}
		if got := messages(b); got[pp.Choke] != 1 {
			t.Fatalf("an idle holder while another waits: wrote %v, want a choke", got)
		}
		if got := messages(a); got[pp.Unchoke] != 1 {
			t.Fatalf("the waiting peer once the idle holder gave up: wrote %v, want an unchoke", got)
		}
		// A holder that has just asked keeps its slot within its term.
		slotConn(t, cl, tor, a, true)
		a.unchokedAt = time.Now().Add(-leecherSlotIdle - time.Millisecond)
		if got := messages(b); len(got) != 0 {
			t.Fatalf("a waiting peer while the holder asks: wrote %v, want nothing", got)
		}
		if got := messages(a); got[pp.Piece] != 1 || a.choking {
			t.Fatalf("a holder that asked, within its term: wrote %v, choking %v", got, a.choking)
		}
		// Once the torrent seeds, the waiting peer is served beside the holder.
		cl.config.Seed = true
		slotConn(t, cl, tor, b, true)
		if got := messages(b); got[pp.Unchoke] != 1 || got[pp.Piece] != 1 {
			t.Fatalf("a waiting peer once the torrent seeds: wrote %v, want an unchoke and its chunk", got)
		}
	})
}

// TestTimedMaxRequests (patch 18): the queue kept at a peer is what arrives in the set time at the
// rate it has delivered, in whole pieces (the test torrent's pieces are 4 chunks), at least the
// least given.
func TestTimedMaxRequests(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered int64 // useful bytes received
		over      time.Duration
		queue     time.Duration
		want      maxRequests
	}{
		{"nothing delivered yet: the least", 0, 0, 500 * time.Millisecond, 4},
		{"256 KiB/s for 260 ms: one piece", 256 << 10, time.Second, 260 * time.Millisecond, 4},
		{"256 KiB/s for 500 ms: two pieces", 256 << 10, time.Second, 500 * time.Millisecond, 8},
		{"256 KiB/s for 100 ms: the least", 256 << 10, time.Second, 100 * time.Millisecond, 4},
		{"4 MiB/s for 500 ms: 128 chunks", 4 << 20, time.Second, 500 * time.Millisecond, 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, p := chunksTorrent(t)
			p._stats.BytesReadUsefulData.Add(tc.delivered)
			p.cumulativeExpectedToReceiveChunks = tc.over
			p.SetRequestQueueTime(tc.queue, 4)
			if got := p.timedMaxRequests(); got != tc.want {
				t.Fatalf("timedMaxRequests = %d, want %d", got, tc.want)
			}
			p.PeerMaxRequests, p.peakRequests = 1000, 1000
			if got := p.nominalMaxRequests(); got != min(tc.want, maxLocalToRemoteRequests) {
				t.Fatalf("nominalMaxRequests = %d, want %d", got, min(tc.want, maxLocalToRemoteRequests))
			}
		})
	}
}
