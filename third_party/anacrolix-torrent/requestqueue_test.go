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
