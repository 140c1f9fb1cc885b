package swarm

// Peers that claim pieces a download lacks and do not send them: a
// hostile peer that claims every piece and keeps the download choked for
// good, or unchokes it and answers no request, counted as a source for as
// long as it stayed connected. A download with no other source then never
// gave up: dist-client's stall watchdog ended the install after two
// minutes with "no data received for 2m0s from any peer or web seed",
// naming no peer, where one without that peer fails in 8 s saying why (an
// attacker's run). Such a peer stops counting after withholdGrace, and the
// give-up names it and what it did (NoSourceError.Withholding).

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/RoaringBitmap/roaring"
	"github.com/anacrolix/torrent"
)

// withholdGrace is how long a connected peer that has pieces a download
// lacks may send none of it before it no longer counts as a source; the
// download gives up GiveUpAfter later if nothing else serves it. A busy
// BitTorrent seeder chokes a peer until its next rechoke round
// (Transmission every 10 s, libtorrent every 15 s) and may then unchoke
// it: 15 s waits out one round of either. Only a download that receives
// nothing at all and whose peers gain no piece gets this far: in a
// swarm that moves, a peer choked for longer waits as before.
const withholdGrace = 15 * time.Second

// Withholder is a connected peer that has pieces a download lacks and
// sent it none for a while (NoSourceError.Withholding).
type Withholder struct {
	Peer netip.AddrPort
	// All: it claims every piece; otherwise Has of the pieces the
	// download lacks.
	All bool
	Has int
	// Choked: it keeps the download choked; otherwise Asked of its
	// requests wait at it (0: none).
	Choked bool
	Asked  int
	// For is how long it sent nothing useful (choked: how long it has
	// kept the download choked).
	For time.Duration
}

// String says what the peer did: "peer 127.0.0.1:6881 claims every
// piece but has kept us choked for 23s".
func (w Withholder) String() string {
	has := "claims every piece"
	if !w.All {
		has = fmt.Sprintf("has %d of the pieces still missing", w.Has)
	}
	did := fmt.Sprintf("has sent nothing for %s", w.For.Round(time.Second))
	switch {
	case w.Choked:
		did = fmt.Sprintf("has kept us choked for %s", w.For.Round(time.Second))
	case w.Asked > 0:
		did = fmt.Sprintf("answered none of our requests in %s", w.For.Round(time.Second))
	}
	return fmt.Sprintf("peer %s %s but %s", w.Peer, has, did)
}

// maxWithholdersSaid bounds the withholding peers an error names.
const maxWithholdersSaid = 4

// peerLook is what a look at a download's connected peers found
// (lookPeers).
type peerLook struct {
	// holding counts the peers that have (by their bitfield and haves)
	// a piece the download lacks and count as sources: withholders left
	// out. unchoked counts those of them that do not choke it.
	holding, unchoked int
	// idle counts the peers that have no piece the download lacks.
	idle int
	// missing is how many pieces the download lacks.
	missing     int
	withholders []Withholder
}

// lookPeers looks at the peers connected to t at now. quiet keeps, by
// peer address, since when each peer holding a piece t lacks has sent
// nothing useful in this stall, across its connections (a restart, or
// the peer dialling again, starts a new one); the Download clears it when
// data comes. nil: each connection's own. A look
// copies each peer's piece set (the library's PeerPieces), as
// peersGained's does.
func lookPeers(t *torrent.Torrent, quiet map[netip.AddrPort]time.Time, now time.Time) peerLook {
	var lack roaring.Bitmap
	piece := uint64(0)
	for _, run := range t.PieceStateRuns() {
		if !run.Complete {
			lack.AddRange(piece, piece+uint64(run.Length))
		}
		piece += uint64(run.Length)
	}
	var l peerLook
	conns := t.PeerConns()
	if lack.IsEmpty() {
		l.idle = len(conns)
		return l
	}
	l.missing = int(lack.GetCardinality())
	for _, pc := range conns {
		has := pc.PeerPieces()
		if !has.Intersects(&lack) {
			l.idle++
			continue
		}
		s := pc.Serving()
		a := peerAddrPort(pc.RemoteAddr)
		since := s.Handshake
		if s.LastUseful.After(since) {
			since = s.LastUseful
		}
		if was, ok := quiet[a]; ok && !s.LastUseful.After(was) {
			since = was
		} else if quiet != nil && (ok || len(quiet) < maxCountedPeers) {
			// A peer first seen holding by this stall counts from now: one
			// that kept the download choked while another seeder served it
			// (a Transmission peer for a minute, say) is owed a rechoke
			// round from when the download came to depend on it.
			if !ok {
				since = later(since, now)
			}
			quiet[a] = since
		}
		if since.IsZero() || now.Sub(since) <= withholdGrace {
			l.holding++
			if !s.Choking {
				l.unchoked++
			}
			continue
		}
		w := Withholder{Peer: a, Has: int(has.AndCardinality(&lack)), Choked: s.Choking, For: now.Sub(since)}
		w.All = has.GetCardinality() >= uint64(t.NumPieces())
		if s.Choking {
			w.For = now.Sub(later(since, s.ChokedAt))
		} else {
			w.Asked = s.Requests
		}
		l.withholders = append(l.withholders, w)
	}
	return l
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// hasNoHolder reports whether no peer connected to t has a piece it
// lacks, or every one that has has sent none of it for withholdGrace.
func hasNoHolder(t *torrent.Torrent) bool {
	return lookPeers(t, nil, time.Now()).holding == 0
}
