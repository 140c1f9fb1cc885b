package torrent

import (
	"slices"
	"testing"
	"time"
)

// worstBadConnFromSlice answers as the ordering of every connection does (patch 37), and asks
// for no allocation where no connection can be bad: all young or active, none wasteful, no
// direction bad. A connection through which nothing moved for idleConnAge, whose peer has nothing
// we want, is bad (patch 44).
func TestWorstBadConnSparesOrdering(t *testing.T) {
	cl, tor := testTorrent(t, 3, emptyStorage{})
	t.Cleanup(func() { cl.Close() })
	tor.DownloadAll() // every piece wanted: a peer that has them all has pieces we want
	cl.lock()
	defer cl.unlock()
	tor.maxEstablishedConns = 8
	type conn struct {
		outgoing       bool
		age            time.Duration
		wasted, useful int64
		sent           time.Duration // since a chunk was last sent to it; 0: never
		hasAll         bool
		asked          bool // a request of it not served yet
	}
	for _, tc := range []struct {
		name    string
		conns   []conn
		opts    worseConnLensOpts
		wantBad int // index of the bad connection; -1 none, -2 any
	}{
		{"young and clean", []conn{{true, time.Second, 0, 3, 0, false, false}, {false, 2 * time.Second, 0, 0, 0, false, false}, {true, 0, 5, 1, 0, false, false}}, worseConnLensOpts{}, -1},
		{"incoming bad", []conn{{true, time.Second, 0, 3, 0, false, false}, {false, 2 * time.Second, 0, 9, 0, false, false}}, worseConnLensOpts{incomingIsBad: true}, 1},
		{"outgoing bad, none outgoing", []conn{{false, time.Second, 0, 3, 0, false, false}}, worseConnLensOpts{outgoingIsBad: true}, -1},
		{"wasteful", []conn{{true, time.Second, 0, 3, 0, false, false}, {true, time.Second, 7, 2, 0, false, false}}, worseConnLensOpts{}, 1},
		{"wasted less than useful", []conn{{true, time.Second, 7, 8, 0, false, false}}, worseConnLensOpts{}, -1},
		{"old, in the worse half", []conn{{true, 2 * time.Minute, 0, 0, 0, false, false}, {true, 2 * time.Minute, 0, 0, 0, false, false}, {true, 2 * time.Minute, 0, 0, 0, false, false}, {true, 2 * time.Minute, 0, 0, 0, false, false}, {true, 2 * time.Minute, 0, 0, 0, false, false}}, worseConnLensOpts{}, -2},
		{"old, too few to be in the worse half, served", []conn{{true, 2 * time.Minute, 0, 0, time.Second, false, false}}, worseConnLensOpts{}, -1},
		{"idle, nothing we want", []conn{{true, time.Second, 0, 3, 0, false, false}, {false, idleConnAge + time.Second, 0, 0, 0, false, false}}, worseConnLensOpts{}, 1},
		{"idle, with pieces we want", []conn{{false, idleConnAge + time.Second, 0, 0, 0, true, false}}, worseConnLensOpts{}, -1},
		{"quiet for less than idleConnAge", []conn{{false, idleConnAge - time.Second, 0, 0, 0, false, false}}, worseConnLensOpts{}, -1},
		{"served, then idle", []conn{{false, idleConnAge + 20*time.Second, 0, 0, idleConnAge + time.Second, false, false}}, worseConnLensOpts{}, 0},
		{"served lately", []conn{{false, idleConnAge + 20*time.Second, 0, 0, time.Second, false, false}}, worseConnLensOpts{}, -1},
		{"quiet, with a request not served yet", []conn{{false, idleConnAge + 20*time.Second, 0, 0, idleConnAge + time.Second, false, true}}, worseConnLensOpts{}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sl []*PeerConn
			for _, c := range tc.conns {
				p := cl.newConnection(nil, newConnectionOpts{network: "test", outgoing: c.outgoing})
				p.setTorrent(tor)
				p.completedHandshake = time.Now().Add(-c.age)
				if c.sent > 0 {
					p.lastChunkSent = time.Now().Add(-c.sent)
				}
				p.peerSentHaveAll = c.hasAll
				if c.asked {
					p.peerRequests = map[Request]*peerRequestState{{Index: 0, ChunkSpec: ChunkSpec{Length: 16 << 10}}: {}}
				}
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
