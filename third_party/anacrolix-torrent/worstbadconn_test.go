package torrent

import (
	"slices"
	"testing"
	"time"
)

// worstBadConnFromSlice answers as the ordering of every connection does (patch 37), and asks
// for no allocation where no connection can be bad: all young, none wasteful, no direction bad.
func TestWorstBadConnSparesOrdering(t *testing.T) {
	cl, tor, _ := chunksTorrent(t)
	cl.lock()
	defer cl.unlock()
	tor.maxEstablishedConns = 8
	type conn struct {
		outgoing       bool
		age            time.Duration
		wasted, useful int64
	}
	for _, tc := range []struct {
		name    string
		conns   []conn
		opts    worseConnLensOpts
		wantBad int // index of the bad connection; -1 none, -2 any
	}{
		{"young and clean", []conn{{true, time.Second, 0, 3}, {false, 2 * time.Second, 0, 0}, {true, 0, 5, 1}}, worseConnLensOpts{}, -1},
		{"incoming bad", []conn{{true, time.Second, 0, 3}, {false, 2 * time.Second, 0, 9}}, worseConnLensOpts{incomingIsBad: true}, 1},
		{"outgoing bad, none outgoing", []conn{{false, time.Second, 0, 3}}, worseConnLensOpts{outgoingIsBad: true}, -1},
		{"wasteful", []conn{{true, time.Second, 0, 3}, {true, time.Second, 7, 2}}, worseConnLensOpts{}, 1},
		{"wasted less than useful", []conn{{true, time.Second, 7, 8}}, worseConnLensOpts{}, -1},
		{"old, in the worse half", []conn{{true, 2 * time.Minute, 0, 0}, {true, 2 * time.Minute, 0, 0}, {true, 2 * time.Minute, 0, 0}, {true, 2 * time.Minute, 0, 0}, {true, 2 * time.Minute, 0, 0}}, worseConnLensOpts{}, -2},
		{"old, too few to be in the worse half", []conn{{true, 2 * time.Minute, 0, 0}}, worseConnLensOpts{}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sl []*PeerConn
			for _, c := range tc.conns {
				p := cl.newConnection(nil, newConnectionOpts{network: "test", outgoing: c.outgoing})
				p.setTorrent(tor)
				p.completedHandshake = time.Now().Add(-c.age)
				p._stats.ChunksReadWasted.Add(c.wasted)
				p._stats.ChunksReadUseful.Add(c.useful)
				sl = append(sl, p)
			}
			// Each on its own copy: the ordering reorders the slice it is given.
			got, ordered := tor.worstBadConnFromSlice(tc.opts, slices.Clone(sl)), tor.worstBadConnOrdered(tc.opts, slices.Clone(sl))
			if got != ordered {
				t.Fatalf("worstBadConnFromSlice %p, the ordering %p", got, ordered)
			}
			if (got == nil) != (tc.wantBad == -1) || tc.wantBad >= 0 && got != sl[tc.wantBad] {
				t.Fatalf("bad connection %p; want index %d of %v", got, tc.wantBad, sl)
			}
			if tc.wantBad < 0 && !anyMayBeBad(tc.opts, sl) {
				if n := testing.AllocsPerRun(10, func() { tor.worstBadConnFromSlice(tc.opts, sl) }); n != 0 {
					t.Errorf("%v allocations where no connection can be bad", n)
				}
			}
		})
	}
}
