package swarm

// How much a publisher and a client take on at once: upload slots, peers
// per torrent, dials, and the token buckets of the rate caps.

import "golang.org/x/time/rate"

// PublisherSlots is how many peers a capped publisher serves per
// torrent at once. Each gets a share of the uplink large enough that its
// pieces are complete and shareable soon, and the clients fed directly
// pass them on. Four were chosen on loopback (bench-swarm N=16, queue 4:
// seeder 1.14–1.17×F → 1.10–1.11×F, time 1.20–1.22 → 1.14–1.17× the
// bound against more slots, which then asked for the same pieces) before
// suggestions (third_party patch 10) kept the publisher from sending a
// piece twice before every piece was out. Between hosts with round trips
// six do better: a slot refills its request queue only when it has
// emptied, and more clients start the swarm's exchange. bench-net (1 MiB/s
// links, F=16 MiB, one host, interleaved rows), time ÷ the bound and
// publisher egress ÷ F, 4 → 6 slots: N=32 at 100 ms 1.32–1.38 (5 rows) →
// 1.30–1.32 (5), egress 1.14–1.20 → 1.19–1.22; at 20 ms 1.25–1.26 →
// 1.20–1.22, egress 1.06–1.08 → 1.08–1.12; at 0 ms 1.21–1.27 → 1.20–1.21;
// N=64 at 100 ms 1.62 → 1.43, N=8 at 100 ms 1.23 → 1.18. Loopback
// bench-swarm (2 MiB/s, two pairs): N=16 1.11–1.12 → 1.10, N=32 1.21–1.28
// → 1.19–1.21, seeder egress unchanged (1.05–1.09 F). Eight were no faster
// within the rows' spread (N=32: 1.27–1.31 at 100 ms, 1.21–1.22 at 20 ms,
// 1.19 at 0 ms) and sent more: egress 1.19–1.23 F at 100 ms, 1.12–1.14 F
// at 20 ms, the extra going to the end of the download, when the clients
// could take the pieces from each other. Two: 1.43–1.52. The slot rate a
// publisher names (its cap over the slots) is what its clients compare
// their other peers with before they ask it last (patch 11): with six,
// other peers of a sixth of the cap suffice.
const PublisherSlots = 6

// UncappedPublisherPeers is the library's default, kept for a publisher
// whose uplink is not declared scarce: it serves whoever asks.
const UncappedPublisherPeers = 50

// ClientPeersPerTorrent caps the connections a client keeps per torrent (the
// library's default is 50). The library serves every interested peer at
// once, without choking, so each connection of a full mesh carries a thin
// trickle, and every piece verified costs a HAVE to each of them. Measured
// with `make bench-swarm` (F=16 MiB, U=u=2 MiB/s, one run after another):
// N=32 with 50: 11.0–11.7 s (1.38–1.46× the bound), seeder 1.20×F, clients
// up to 1.10×F, daemons 49 MiB, CPU saturated; with 8: 10.2–10.5 s, 1.11–
// 1.16×F, 1.04×F, 35 MiB, 10 % less CPU. N=16: 1.15–1.16× → 1.13–1.15×,
// CPU 14.4–14.8 s → 11.8–12.8 s. 4 and 6 measured the same as 8.
const ClientPeersPerTorrent = 8

// dialsPerSecond bounds new outgoing peer connections: enough for an
// install of a thousand packages from one seeder in five seconds, still
// far from a connection flood.
const dialsPerSecond = 200

// NewLimiter builds a token bucket for bytes per second (an engine's,
// or one it shares: Config.UploadLimiter). The burst must be at
// least one chunk (requestChunk): the library refuses longer requests, and
// tells peers so (third_party patch 35), so with less they would ask this
// engine in parts of 16 KiB. It must be explicit: a zero burst lets the
// first 16 MiB through unthrottled. A tenth of a second of tokens keeps the
// rate within a few percent over any 10 s window.
func NewLimiter(bps int64) *rate.Limiter {
	burst := max(bps/10, requestChunk)
	return rate.NewLimiter(rate.Limit(bps), int(burst))
}
