package swarm

import (
	"fmt"
	"math"
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
// as "distpac-server reqq=4 rate=655360": the queue depth it wants at zero
// round-trip time, in blocks of 16 KiB (blockSize), and the upload rate of
// one of its slots (its cap divided by PublisherSlots). A client keeps that
// depth plus rttQueueFactor round
// trips of the slot's data, the round trip read from the kernel (TCP_INFO's
// min_rtt on the connection), in whole pieces, at most peerQueue
// (publisherDepth). Every other peer gets what arrives in peerQueueTime at
// the rate it has delivered, at most peerQueue (when the round trip is
// known; else peerQueue).
//
// Measured with `make bench-net` (N=16, F=16 MiB, 64 KiB pieces, links of
// 1 MiB/s, 100 ms): a queue of 4 left the publisher's link 80-90 % busy
// (the library asks for the next batch only when the last is answered, so
// the link to a client idles a round trip per batch): 1.55× the
// Kumar–Ross bound; the queue of 8 this rule gives: 1.43×.

// serverVersion is the client name every dist-server seeder (the
// publisher's and a mirror's, Config.Server) sends in its BEP 10 handshake;
// a capped publisher's goes on with its queue (publisherVersion). A client
// takes it for a server's only at a host of its server_urls (serverpeers.go).
const serverVersion = "distpac-server"

// publisherVersion starts the client name of a capped publisher.
const publisherVersion = serverVersion + " reqq="

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
// (half a piece: see publisherDepth). Only a publisher that declares its
// uplink scarce (upload_rate_limit) asks for it.
const DefaultPublisherQueue = 4

// publisherSuggestions is how many pieces a capped publisher keeps
// suggested (BEP 6) to each client it serves and not yet asked for, at
// least: a client that queues more pieces at once gets as many (third_party
// patch 10). The client asks for suggested pieces first, in the order
// given, so the publisher hands out every piece once before any twice.
// Measured with bench-net (N=32, 1 MiB/s links, F=16 MiB): publisher
// egress 1.28-1.35 F -> 1.17-1.21 F at 20 ms and 1.23 -> 1.22-1.24 F at
// 100 ms, no piece sent twice before every piece was out once (64 of 257
// were before); 3 kept the client's next batch suggested too, but a
// suggestion could wait behind newer ones for seconds (fixed by the order)
// and the publisher ran out of unsent pieces early (1.53-1.58 F).
const publisherSuggestions = 1

// peerQueue caps the requests this client keeps queued at any peer, in
// blocks of 16 KiB (16 requests of 64 KiB chunks). The library would queue
// up to the peer's reqq (1024 requests, 16 MiB), and a peer holds the data
// of queued requests in memory while its capped uplink drains them; 1 MiB
// still keeps 10 MiB/s flowing per connection at a 100 ms round trip.
const peerQueue = 64

// peerQueueTime is how long the requests a client keeps queued at a peer
// other than a capped publisher should take to arrive at that peer's rate
// so far (third_party patch 17; peerQueue still caps them): a base of
// peerQueueBase plus peerQueueRTTs round trips. A peer's uplink is shared
// by every downloader it serves, and chunks queued there wait while the
// other peers that have their pieces are not asked for them. Measured with
// bench-net (N=32, links of 1 MiB/s, 64 KiB pieces), fixed queues of
// 64/16/8/4 chunks: 1.47-1.76/1.53-1.59/1.38-1.54/1.31 x the bound at
// 20 ms, and the 4 chunks 1.53 x at 100 ms, where they are less than a
// round trip's data and the peer idles between batches. At a measured
// rate of 256 KiB/s this rule gives 4 chunks at 20 ms and 8 at 100 ms; a
// fast peer's queue is peerQueue. The rate is the connection's average
// over its life, so a peer that slows down keeps a deeper queue for a
// while, and one that speeds up a shallower one. For pieces of 256 KiB
// and more the least kept, one piece, is 16 chunks or more, and for 1 MiB
// pieces (archives over 512 MiB) the bound is peerQueue itself. Measured
// again at 100 ms with four publisher slots, N=32, three
// interleaved rows each: 6 round trips (800 ms) 1.43-1.47 x against
// 1.35-1.38 x for these 3; 0, 1 or 2 round trips 1.31-1.39 x, no
// different from 3 within the rows' spread.
func peerQueueTime(rtt time.Duration) time.Duration {
	return peerQueueBase + peerQueueRTTs*rtt
}

const (
	peerQueueBase = 200 * time.Millisecond
	peerQueueRTTs = 3
)

// blockSize is the unit in which this file counts request queues: a
// BEP 3 request, 16 KiB. A publisher's reqq is in these units on the wire
// (what clients of every version read), and publisherDepth and peerQueue
// count them; onHandshake turns them into the torrent's chunks.
const blockSize = 16 << 10

// requestChunk is the torrent's chunk size: the length of the requests
// this engine makes of peers that serve such requests (distpac's, which
// say so in their handshake), asked as parts of 16 KiB of every other
// client (Transmission and libtorrent refuse longer requests): third_party
// patch 35. A torrent whose pieces are shorter has chunks of a piece.
//
// A quarter of the messages, writes, request updates and wake-ups of
// 16 KiB chunks. A first experiment, with every request 64 KiB, took
// 5.2-5.5 s of CPU in a bench-swarm row (N=16, F=16 MiB, U=u=2 MiB/s)
// against 7.3-7.5 s for 16 KiB (32 KiB: 5.8 s; 128 KiB: 5.2 s); with the
// queue depths then counted in chunks, its rows were slower (1.14-1.17 x
// the bound against 1.08-1.09 x) and the publisher sent 1.11 F against
// 1.06 F, its queue of 4 chunks having become 4 pieces: hence blockSize.
// With the patch, interleaved rows of the same day: the daemons' CPU at
// N=32 10.4-12.9 s against 13.3-15.5 s, the last install 1.44-1.47 x the
// bound against 1.47-1.52 x; at N=16 the download ended about 3 % later
// (a last piece comes as one 64 KiB message from one peer). 32 KiB did
// no better there.
const requestChunk = 64 << 10

// rttQueueFactor is how many round trips of a slot's data a client keeps
// queued at a publisher beyond the depth it asked for. More than one: the
// library asks for the next batch only when every request of the last one
// is answered, so with one round trip's worth the link to the client
// would idle half the time. Measured (bench-net N=8, 2 MiB/s, 100 ms, in
// whole pieces): 8 chunks 1.63× the bound, publisher 1.20 F; 12: 1.53×,
// 1.24 F; 20: 1.50×, 1.30 F (the deeper the queue, the staler the
// requests).
const rttQueueFactor = 2

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
// queue at zero round trip, serves a slot at slotRate bytes/s and is rtt
// away, for a torrent whose pieces are pieceBlocks long, all counted in
// blocks of 16 KiB (blockSize): queue plus rttQueueFactor round trips of
// the slot's data, rounded to whole pieces, at most peerQueue (or one
// piece, when a piece is longer).
//
// Whole pieces, because with batches that end inside a piece, pieces stay
// incomplete at the client for another round of requests, so what the
// publisher sent reaches the other clients later and they fetch more of
// it from the publisher again. Measured at N=8, F=16 MiB (4-block pieces),
// 1 MiB/s links, 100 ms: depth 4: the publisher sent 1.16 F of payload;
// 5: 1.36 F; 6: 1.51 F; 7: 1.72 F; 8: 1.18 F; the same at zero round trip
// (4: 1.12 F, 6: 1.51 F). For a package above 64 MiB (16-block pieces)
// the depth of 4 was a quarter piece: N=8, 80 MiB, 2 MiB/s on loopback
// took 1.61× the bound with the publisher sending 1.59 F; a whole piece
// (16), 1.18× and 1.05 F.
func publisherDepth(queue int, slotRate int64, rtt time.Duration, pieceBlocks int) int {
	want := float64(max(queue, DefaultPublisherQueue)) + rttQueueFactor*float64(slotRate)*rtt.Seconds()/blockSize
	piece := float64(max(pieceBlocks, 1))
	d := max(1, math.Round(want/piece)) * piece
	return int(min(d, max(peerQueue, piece)))
}

// requestQueues applies the queue depths as the library reads each peer's
// extended handshake, before it takes the peer's reqq, and remembers the
// deepest queue kept at a publisher (Stats).
type requestQueues struct {
	deepest atomic.Int64
}

func (q *requestQueues) onHandshake(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	limit := peerQueue    // in blocks until the end
	var rtt time.Duration // none known: the depth asked for at zero round trip
	var rttErr error
	chunkBlocks, pieceChunks := 1, 1
	if pc != nil {
		rtt, rttErr = minRTT(pc.NetConn())
		if t := pc.Torrent(); t != nil {
			if info := t.Info(); info != nil && info.PieceLength > 0 {
				chunkBlocks, pieceChunks = chunkGeometry(info.PieceLength)
			}
		}
	}
	if queue, rate, ok := parsePublisherName(m.V); ok {
		if pc != nil {
			pc.SetScarceSeed(rate)       // asked last for what others have (third_party patch 11)
			pc.SetRequestQueueTime(0, 1) // the depth below, not a time (a second handshake)
		}
		limit = publisherDepth(queue, rate, rtt, pieceChunks*chunkBlocks)
		for {
			d := q.deepest.Load()
			if int64(limit) <= d || q.deepest.CompareAndSwap(d, int64(limit)) {
				break
			}
		}
	} else if pc != nil && rttErr == nil {
		// Without the round trip a time bound could hold a distant peer's
		// queue under its round trip's data; such a peer keeps peerQueue.
		pc.SetRequestQueueTime(peerQueueTime(rtt), pieceChunks)
	}
	// The library has turned the peer's reqq into chunks (patch 35).
	if chunks := blocksToChunks(limit, chunkBlocks); m.Reqq == 0 || m.Reqq > chunks {
		m.Reqq = chunks
	}
}

// chunkGeometry gives, for pieces of pieceLength bytes, the blocks of
// 16 KiB a chunk spans (a chunk is requestChunk, or a piece when pieces are
// shorter) and the chunks of a piece.
func chunkGeometry(pieceLength int64) (chunkBlocks, pieceChunks int) {
	chunk := min(requestChunk, pieceLength)
	return int((chunk + blockSize - 1) / blockSize), int((pieceLength + chunk - 1) / chunk)
}

// blocksToChunks is a queue of blocks as chunks of chunkBlocks blocks,
// rounded up, at least one.
func blocksToChunks(blocks, chunkBlocks int) int {
	return max(1, (blocks+chunkBlocks-1)/max(chunkBlocks, 1))
}
