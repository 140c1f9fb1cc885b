package torrent

import (
	"math"
	"time"
)

// distpac patch 17: a request queue as long as a time at the peer's rate.
//
// Upstream a connection keeps up to the peer's reqq of chunk requests queued at it (distpac caps
// that at 64 chunks, 1 MiB). A peer's uplink is shared by every downloader it serves, so at a
// slow peer 64 chunks are seconds of its data: the chunks wait there, their pieces complete late,
// and the other peers that have those pieces are not asked for them (a chunk is asked of one peer
// at a time until the endgame) and idle. bench-net N=32 (links of 1 MiB/s, 64 KiB pieces): fixed
// queues of 64 chunks gave 1.47-1.76 x the Kumar-Ross bound, 16 chunks 1.53-1.59, 8 chunks
// 1.38-1.54, 4 chunks 1.31 at 20 ms but 1.53 at 100 ms (less than a round trip's data). A queue
// bounded by time follows each peer's rate and the round trip, as libtorrent's request_queue_time
// does.

// SetRequestQueueTime bounds the requests queued at the peer to what arrives in d at the rate the
// peer has delivered so far (useful bytes over the time requests were outstanding, over the
// connection's life), in whole pieces, and this bound to at least least chunks (also the bound
// until the peer has delivered anything); the library's own limits still apply (twice the requests
// the last update added, the peer's reqq). d of 0 removes the bound.
func (cn *PeerConn) SetRequestQueueTime(d time.Duration, least int) {
	cn.requestQueueTime = max(d, 0)
	cn.requestQueueLeast = maxRequests(max(least, 1))
}

// timedMaxRequests is the request queue that SetRequestQueueTime allows now.
func (cn *PeerConn) timedMaxRequests() maxRequests {
	chunks := cn.downloadRate() * cn.requestQueueTime.Seconds() / float64(max(cn.t.chunkSize, 1))
	if math.IsNaN(chunks) {
		chunks = 0
	}
	// Also +Inf: data and no time measured yet. nominalMaxRequests is bounded by this anyway.
	chunks = min(chunks, float64(maxLocalToRemoteRequests))
	// In whole pieces, rounded: a queue that ends inside a piece leaves it incomplete for another
	// round of requests (internal/swarm's publisherDepth measures the same at a publisher).
	if per := float64(max(cn.t.chunksPerRegularPiece(), 1)); chunks > per {
		chunks = math.Round(chunks/per) * per
	}
	return max(cn.requestQueueLeast, maxRequests(math.Ceil(chunks)))
}
