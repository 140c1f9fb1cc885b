package swarm

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// The request queue a client keeps at each peer.
//
// A capped publisher names itself in its BEP 10 extended handshake ("v")
// as "distpac-server reqq=4 rate=524288": the queue depth it wants at zero
// round-trip time and the upload rate of one of its slots (its cap divided
// by PublisherSlots). A client keeps that depth plus what covers the round
// trip to the publisher at that rate, read from the kernel (TCP_INFO's
// min_rtt on the connection), between DefaultPublisherQueue and peerQueue.
// Every other peer gets peerQueue.

// publisherVersion starts the client name of a capped publisher.
const publisherVersion = "distpac-server reqq="

// DefaultPublisherQueue is the queue depth a capped publisher asks for at
// zero round-trip time, and the least a client keeps at one.
//
// The library queues up to the peer's "reqq" (1024 chunks, 16 MiB) at a
// peer. At a seeder whose capped uplink is the swarm's bottleneck, such a
// queue is served seconds later, when other peers already have those
// pieces: the seeder then sends the same piece to many peers. Measured with
// `make bench-swarm` (N=16, F=16 MiB, U=u=2 MiB/s, same run conditions):
// queue 1024: seeder upload 1.46×F, time 1.50× the Kumar–Ross bound;
// queue 16: 1.29×F, 1.33×; 8: 1.21×F, 1.25×; 4: 1.15×F, 1.20×; 2: 5.4×F
// (too short to keep the link busy). Only a publisher that declares its
// uplink scarce (upload_rate_limit) asks for it.
const DefaultPublisherQueue = 4

// peerQueue caps the chunk requests this client keeps queued at any peer.
// The library would queue up to the peer's reqq (1024 chunks, 16 MiB), and
// a peer holds the data of queued requests in memory while its capped
// uplink drains them; 64 chunks (1 MiB) still keep 10 MiB/s flowing per
// connection at a 100 ms round trip.
const peerQueue = 64

// chunkSize is the request length of the library (and of BEP 3 clients).
const chunkSize = 16 << 10

// rttQueueFactor is how many round trips' worth of a slot's data a client
// keeps queued at a publisher beyond DefaultPublisherQueue. More than one:
// the library asks for a new batch only when every request of the last
// one is answered, so the link to a client idles one round trip per
// batch. TODO(measure)
const rttQueueFactor = 1.0

// publisherName is the "v" a capped publisher sends: its queue depth at
// zero round-trip time and the upload rate of one slot, bytes/s.
func publisherName(queue int, slotRate int64) string {
	return fmt.Sprintf("%s%d rate=%d", publisherVersion, queue, slotRate)
}

// parsePublisherName reads a publisher's "v". A publisher that gives no
// rate (or a bad one) gets its queue depth as asked; a peer whose v is not
// a publisher's gets ok false.
func parsePublisherName(v string) (queue int, slotRate int64, ok bool) {
	rest, ok := strings.CutPrefix(v, publisherVersion)
	if !ok {
		return 0, 0, false
	}
	q, rateText, hasRate := strings.Cut(rest, " rate=")
	queue, err := strconv.Atoi(q)
	if err != nil || queue <= 0 {
		return 0, 0, false
	}
	if hasRate {
		if r, err := strconv.ParseInt(rateText, 10, 64); err == nil && r > 0 {
			slotRate = r
		}
	}
	return queue, slotRate, true
}

// publisherDepth is the queue a client keeps at a publisher that asked for
// queue at zero round trip, serves a slot at slotRate bytes/s, and is rtt
// away: queue plus rttQueueFactor round trips of the slot's data, rounded
// to whole chunks (so that loopback's few microseconds add nothing),
// between DefaultPublisherQueue and peerQueue.
func publisherDepth(queue int, slotRate int64, rtt time.Duration) int {
	factor := rttQueueFactor
	if f, err := strconv.ParseFloat(os.Getenv("DISTPAC_QUEUE_FACTOR"), 64); err == nil {
		factor = f // EXPERIMENT
	}
	extra := math.Round(factor * float64(slotRate) * rtt.Seconds() / chunkSize)
	d := float64(queue) + min(extra, peerQueue)
	return int(min(max(d, DefaultPublisherQueue), peerQueue))
}

// requestQueues applies the queue depths as the library reads each peer's
// extended handshake, before it takes the peer's reqq, and remembers the
// deepest queue kept at a publisher (Stats).
type requestQueues struct {
	deepest atomic.Int64
}

func (q *requestQueues) onHandshake(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	limit := peerQueue
	if queue, rate, ok := parsePublisherName(m.V); ok {
		var rtt time.Duration
		if pc != nil {
			rtt, _ = minRTT(pc.NetConn()) // none known: the depth asked for at zero round trip
		}
		limit = publisherDepth(queue, rate, rtt)
		for {
			d := q.deepest.Load()
			if int64(limit) <= d || q.deepest.CompareAndSwap(d, int64(limit)) {
				break
			}
		}
	}
	if m.Reqq == 0 || m.Reqq > limit {
		m.Reqq = limit
	}
}
