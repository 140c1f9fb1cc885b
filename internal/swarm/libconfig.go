package swarm

// The library's client settings an engine runs with, each with the
// measurement or the run behind it (shared/ANACROLIX.md has the rest):
// New adds the callbacks, rate limits and storage, which need the engine.

import (
	"cmp"
	"log/slog"
	"net"

	"github.com/anacrolix/torrent"
	"golang.org/x/time/rate"
)

// prefixPieces is how many pieces past the complete prefix a download asks
// for before the rarest (third_party patch 42). Two kept the download time
// of rarest first (bench-swarm N=16 and 32: 1.14 and 1.23 x the bound to
// download, against 1.11-1.15 and 1.22-1.25) with 85-95 % of the archive
// in the prefix 0.3-0.5 s before the end; four made N=32 1.38; every piece
// in order 1.62 and 1.91.
const prefixPieces = 2

// libraryConfig is the library's configuration for an engine of cfg
// listening on host and port, logging to logger.
func libraryConfig(cfg Config, host string, port int, logger *slog.Logger) *torrent.ClientConfig {
	tc := torrent.NewDefaultClientConfig()
	tc.Slogger = slog.New(newLibraryHandler(logger.Handler()))
	tc.ListenHost = func(network string) string { return host }
	tc.ListenPort = port
	tc.NoDHT = true
	tc.DisableUTP = true // uTP on loopback ran at ~2 MiB/s against ~100 MiB/s TCP
	tc.DisableIPv6 = host == "" || net.ParseIP(host).To4() != nil
	tc.DisablePEX = cfg.DisablePEX
	tc.DisableWebtorrent = true
	// No ut_holepunch (BEP 55; third_party patch 50): it opens a way
	// through NAT for uTP, which is off. A peer's "connect" messages made
	// the publisher's seeder dial 2,000 times in 10 ms, and a daemon
	// 15,000, any address the peer named (an attacker's run).
	tc.DisableUtHolepunch = true
	// Plain BitTorrent handshakes (incoming obfuscated ones are still
	// accepted): message stream encryption hides nothing that matters here
	// (every piece is checked against its hash) and costs a Diffie–Hellman
	// exchange per connection, 9 % of a client's CPU in an install of 1,000
	// small packages, each its own connection to the seeder. Nor is a
	// connection whose plain handshake the peer closed dialled again
	// obfuscated (third_party patch 40): a distpac node at its connection
	// cap closes every connection it is offered, and the library dialled
	// it again for a key exchange it never read. In a swarm every late
	// client meets full peers: in a bench-swarm row at N=16, 79 plain
	// handshakes were closed so and each dialled again obfuscated; at N=32
	// each daemon began ~15 key exchanges. Without the retries (four
	// interleaved pairs, quiet machine) the row's CPU was 7.4–8.3 against
	// 7.3–9.0 s at N=16 and 14.5–17.9 against 16.2–18.3 s at N=32, the
	// time the same. A peer that requires encryption is not dialled; it
	// dials in.
	tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: false, NoOutgoingFallback: true}
	tc.DisableWebseeds = true
	tc.NoDefaultPortForwarding = true
	tc.DisableTrackers = true // announce.go announces instead
	// New adds the listening sockets as dialers itself, each wrapped to
	// note how a dial to a download's seeder ended (refused.go).
	tc.DialForPeerConns = false
	// Without Seed a complete client refuses incoming connections; every
	// distpac node shares what it has.
	tc.Seed = true
	// One memory budget for the data read for peers' requests and not yet
	// sent, across every connection and torrent (third_party/anacrolix-
	// torrent carries the patch): the library kept 16 MiB per connection,
	// so 50 peers that requested every block and never read the replies
	// grew a seeder to 800 MB per package. Now a connection reads ahead at
	// most peerReadAhead, all of them together at most the budget, and a
	// peer that stops reading is dropped after peerWriteTimeout, which
	// frees what was read for it.
	tc.MaxAllocPeerRequestDataPerClient = int(cmp.Or(cfg.RequestBudget, DefaultRequestBudget))
	tc.MaxAllocPeerRequestDataPerConn = peerReadAhead
	tc.PeerWriteTimeout = peerWriteTimeout
	// Loopback and LAN swarms have many peers on one IP.
	tc.DropDuplicatePeerIds = true
	// The library dials at most 10 peers a second (burst 10): an install of
	// 250 packages, a connection to the seeder for each, waited 25 s for
	// its dials alone, and the last torrents gave up for want of a source.
	tc.DialRateLimiter = rate.NewLimiter(dialsPerSecond, dialsPerSecond)
	tc.EstablishedConnsPerTorrent = ClientPeersPerTorrent
	if cfg.PeersPerTorrent > 0 {
		tc.EstablishedConnsPerTorrent = cfg.PeersPerTorrent
	}
	// One host may hold a quarter of a torrent's connections (at least
	// one; loopback is not limited): one that kept 50 connections open at
	// dist-server's seeder, 8 at a daemon, took every slot, and new clients
	// got nothing over BitTorrent (an attacker's run; third_party patch 41).
	// A capped publisher's six slots then go to six hosts; a client's eight
	// to at least four.
	tc.MaxEstablishedConnsPerIP = max(1, tc.EstablishedConnsPerTorrent/4)
	// Asked for first: the pieces after the ones complete from the start,
	// so an install can unpack the archive while the rest arrives (third_
	// party patch 42; a capped publisher gives its pieces out in order).
	tc.PrefixPieces = prefixPieces
	if cfg.Server {
		tc.ExtendedHandshakeClientVersion = serverVersion
	}
	if cfg.PublisherQueue > 0 {
		tc.ExtendedHandshakeClientVersion = publisherName(cfg.PublisherQueue, cfg.UploadRate/int64(tc.EstablishedConnsPerTorrent))
		tc.SuggestPieces = publisherSuggestions
		tc.SuggestFromEnd = cfg.Mirror
	}
	return tc
}
