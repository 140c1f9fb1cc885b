package torrent

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// uploadOrderTorrent is chunksTorrent with two connections asking for a chunk each: common for
// piece 0, which two of the client's peers have, and rare for piece 1, which none has. The
// client's limiter owes 128 KiB at t0 (256 KiB/s): a 16 KiB chunk's tokens are due 0.31 s later,
// within its horizon (62 ms) from about 0.25 s on.
func uploadOrderTorrent(t *testing.T) (cl *Client, common, rare *PeerConn, rc, rr Request, t0 time.Time) {
	cl, tor, common := chunksTorrent(t)
	cl.lock()
	t.Cleanup(func() {
		tor.pieces[0].relativeAvailability = 0 // as no peer had it, for the torrent's close
		if cl.uploadTurnTimer != nil {
			cl.uploadTurnTimer.Stop()
		}
		cl.unlock()
	})
	rare = cl.newConnection(nil, newConnectionOpts{network: "test"})
	rare.setTorrent(tor)
	tor.pieces[0].relativeAvailability = 2
	t0 = time.Now()
	lim := rate.NewLimiter(256<<10, 64<<10)
	lim.ReserveN(t0, 64<<10)
	lim.ReserveN(t0, 64<<10)
	cl.config.UploadRateLimiter = lim
	rc = Request{Index: 0, ChunkSpec: ChunkSpec{Length: 16 << 10}}
	rr = Request{Index: 1, ChunkSpec: ChunkSpec{Length: 16 << 10}}
	return cl, common, rare, rc, rr, t0
}

// TestUploadTurn (patch 39): a capped client's tokens go to the chunk of the rarest piece first;
// a connection that waited uploadAgeLimit goes before rarer ones; one whose turn came and went
// unused loses its place; one that leaves (nothing to send, choked, closed) holds up no one; an
// unlimited client and a scarce seed do not wait.
func TestUploadTurn(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	type call struct {
		rare bool          // which connection asks
		at   time.Duration // after t0
		want bool          // may reserve
	}
	for _, tc := range []struct {
		name    string
		before  func(cl *Client, common, rare *PeerConn, t0 time.Time)
		calls   []call
		waiting []bool // after the calls: whether common, rare wait
	}{
		{
			name: "the rarer piece goes first",
			calls: []call{
				{false, 0, false}, {true, ms(1), false}, // tokens not due yet: both wait
				{false, ms(300), false}, // due, but the rare chunk waits too
				{true, ms(300), true},
			},
			waiting: []bool{true, false},
		},
		{
			name: "a common piece that waited the age limit goes first",
			calls: []call{
				{false, 0, false}, {true, ms(200), false},
				{true, ms(550), false},
				{false, ms(550), true},
			},
			waiting: []bool{false, true},
		},
		{
			name: "a waiter whose turn lapsed loses its place",
			before: func(cl *Client, common, rare *PeerConn, t0 time.Time) {
				cl.uploadWaiters = map[*PeerConn]uploadWaiter{rare: {avail: 0, since: t0, n: 16 << 10, woken: t0.Add(ms(150))}}
			},
			calls:   []call{{false, ms(300), true}},
			waiting: []bool{false, false},
		},
		{
			name: "a waiter whose turn came keeps it within the lapse",
			before: func(cl *Client, common, rare *PeerConn, t0 time.Time) {
				cl.uploadWaiters = map[*PeerConn]uploadWaiter{rare: {avail: 0, since: t0, n: 16 << 10, woken: t0.Add(ms(250))}}
			},
			calls:   []call{{false, ms(300), false}, {true, ms(300), true}},
			waiting: []bool{true, false},
		},
		{
			name: "a connection that leaves holds up no one",
			before: func(cl *Client, common, rare *PeerConn, t0 time.Time) {
				rare.uploadTurn(Request{Index: 1, ChunkSpec: ChunkSpec{Length: 16 << 10}}, 16<<10, t0)
				rare.leaveUploadTurn() // nothing to send, choked or closed
			},
			calls:   []call{{false, ms(300), true}},
			waiting: []bool{false, false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, common, rare, rc, rr, t0 := uploadOrderTorrent(t)
			if tc.before != nil {
				tc.before(cl, common, rare, t0)
			}
			for i, c := range tc.calls {
				p, r := common, rc
				if c.rare {
					p, r = rare, rr
				}
				if got := p.uploadTurn(r, int(r.Length), t0.Add(c.at)); got != c.want {
					t.Fatalf("call %d (rare %v at %v): may reserve %v, want %v", i, c.rare, c.at, got, c.want)
				}
			}
			_, cw := cl.uploadWaiters[common]
			_, rw := cl.uploadWaiters[rare]
			if cw != tc.waiting[0] || rw != tc.waiting[1] {
				t.Fatalf("waiting: common %v, rare %v; want %v", cw, rw, tc.waiting)
			}
		})
	}

	t.Run("an unlimited client and a scarce seed do not wait", func(t *testing.T) {
		cl, common, _, rc, _, t0 := uploadOrderTorrent(t)
		cl.config.SuggestPieces = 4
		if !common.uploadTurn(rc, int(rc.Length), t0) {
			t.Fatal("a scarce seed waits its turn")
		}
		cl.config.SuggestPieces = 0
		cl.config.UploadRateLimiter = rate.NewLimiter(rate.Inf, 0)
		if !common.uploadTurn(rc, int(rc.Length), t0) || len(cl.uploadWaiters) != 0 {
			t.Fatalf("an unlimited client waits its turn (waiters %d)", len(cl.uploadWaiters))
		}
	})
}

// TestUploadTurnTimer: the timer wakes the first waiter (the rarer piece) when its tokens come
// within its horizon, and the next one when that turn lapses.
func TestUploadTurnTimer(t *testing.T) {
	cl, common, rare, rc, rr, _ := uploadOrderTorrent(t)
	now := time.Now()
	if common.uploadTurn(rc, int(rc.Length), now) || rare.uploadTurn(rr, int(rr.Length), now) {
		t.Fatal("a chunk whose tokens are 0.3 s away may be reserved")
	}
	woken := func(p *PeerConn) bool { return !cl.uploadWaiters[p].woken.IsZero() }
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 5 s", what)
			}
			cl.unlock()
			time.Sleep(10 * time.Millisecond)
			cl.lock()
		}
	}
	wait("turn for the rare chunk", func() bool { return woken(rare) })
	if woken(common) {
		t.Fatal("the common chunk's turn came with the rare one's")
	}
	// The rare connection's writer does not come (no writer runs here): its turn lapses, and
	// the common one's comes.
	wait("turn for the common chunk", func() bool { return woken(common) })
	if _, ok := cl.uploadWaiters[rare]; ok {
		t.Fatal("a waiter whose turn lapsed kept its place")
	}
}

// TestLeaveUploadTurnWithoutTorrent: a connection closed before its handshake gave it a torrent
// leaves no turn (it crashed every incoming connection that failed its handshake).
func TestLeaveUploadTurnWithoutTorrent(t *testing.T) {
	cl, err := NewClient(TestingConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.lock()
	defer cl.unlock()
	cl.newConnection(nil, newConnectionOpts{network: "test"}).onClose()
}
