package torrent

import (
	"testing"
	"time"
)

// TestTimedMaxRequests (patch 17): the queue kept at a peer is what arrives in the set time at the
// rate it has delivered, in whole pieces (the test torrent's pieces are 4 chunks), at least the
// least given.
func TestTimedMaxRequests(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered int64 // useful bytes received
		over      time.Duration
		queue     time.Duration
		least     int
		want      maxRequests
	}{
		{"nothing delivered yet: the least", 0, 0, 500 * time.Millisecond, 2, 2},
		{"256 KiB/s for 260 ms: one piece", 256 << 10, time.Second, 260 * time.Millisecond, 4, 4},
		{"256 KiB/s for 500 ms: two pieces", 256 << 10, time.Second, 500 * time.Millisecond, 4, 8},
		{"256 KiB/s for 100 ms: 1.6 chunks, less than a piece", 256 << 10, time.Second, 100 * time.Millisecond, 1, 2},
		{"256 KiB/s for 100 ms: the least", 256 << 10, time.Second, 100 * time.Millisecond, 3, 3},
		{"256 KiB/s for 500 ms, a larger least", 256 << 10, time.Second, 500 * time.Millisecond, 12, 12},
		{"4 MiB/s for 500 ms: 128 chunks", 4 << 20, time.Second, 500 * time.Millisecond, 4, 128},
		{"data and no time measured yet: the library's cap, in pieces", 1 << 20, 0, 500 * time.Millisecond, 4, 964},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, p := chunksTorrent(t)
			p._stats.BytesReadUsefulData.Add(tc.delivered)
			p.cumulativeExpectedToReceiveChunks = tc.over
			p.SetRequestQueueTime(tc.queue, tc.least)
			if got := p.timedMaxRequests(); got != tc.want {
				t.Fatalf("timedMaxRequests = %d, want %d", got, tc.want)
			}
			p.PeerMaxRequests, p.peakRequests = 1000, 1000
			if got := p.nominalMaxRequests(); got != min(tc.want, maxLocalToRemoteRequests) {
				t.Fatalf("nominalMaxRequests = %d, want %d", got, min(tc.want, maxLocalToRemoteRequests))
			}
			// A time of 0 removes the bound.
			p.SetRequestQueueTime(0, tc.least)
			if got := p.nominalMaxRequests(); got != maxLocalToRemoteRequests {
				t.Fatalf("nominalMaxRequests with no time bound = %d, want the library's %d", got, maxLocalToRemoteRequests)
			}
		})
	}
}

// TestTimedBoundFallsDuringAnUpdate (patch 26): patch 17's bound moves with the clock, and an update
// that read it once to decide the queue was not full and again to make the request panicked ("too
// many outstanding requests"), which took a bench-net client's daemon down (N=64, 100 ms, pieces of
// 32 KiB). Here the bound falls by a piece every few microseconds: the peer delivered its bytes
// over the last 50-100 µs only. Before the patch one of the first few updates panicked.
func TestTimedBoundFallsDuringAnUpdate(t *testing.T) {
	cl, tor := testTorrent(t, 256, emptyStorage{})
	t.Cleanup(func() { cl.Close() })
	tor.DownloadAll()
	cl.lock()
	defer cl.unlock()
	p := cl.newConnection(nil, newConnectionOpts{network: "test"})
	p.setTorrent(tor)
	cl.config.PeerWriteTimeout = 0
	p.initMessageWriter()
	tor.conns[p] = struct{}{}
	defer func() {
		delete(tor.conns, p)
		p.peerSentHaveNone()
		p.needRequestUpdate = ""
	}()
	p.PeerMaxRequests, p.peakRequests = 1<<20, 1<<20
	p.peerChoking = false
	p.requestState.Interested = true
	if err := p.onPeerSentHaveAll(); err != nil {
		t.Fatal(err)
	}
	p.needRequestUpdate = ""
	for i := range 200 {
		p.deleteAllRequests("next round")
		p.requestState.Cancelled.Clear()
		p.messageWriter.mu.Lock()
		p.messageWriter.writeBuffer.Reset() // no connection drains it
		p.messageWriter.mu.Unlock()
		p._stats.BytesReadUsefulData.Add(-p._stats.BytesReadUsefulData.Int64() + 1<<30)
		p.cumulativeExpectedToReceiveChunks = 0
		// Expecting since 50-100 µs ago: 1 GiB over that, for about 100 ns, is 60-130 chunks,
		// and the bound falls by a piece (4 chunks) every few microseconds as time passes.
		p.lastStartedExpectingToReceiveChunks = time.Now().Add(-time.Duration(50+i%50) * time.Microsecond)
		p.SetRequestQueueTime(time.Duration(100+i%7)*time.Nanosecond, 4)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("update %d panicked: %v", i, r)
				}
			}()
			p.updateRequests()
		}()
		if n, limit := p.requestState.Requests.GetCardinality(), p.nominalMaxRequests(); n == 0 {
			t.Fatalf("update %d made no request (bound now %d)", i, limit)
		}
	}
	p.deleteAllRequests("test end")
	p.requestState.Cancelled.Clear()
}
