package torrent

import (
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// distpac patch: a seed with a scarce uplink tells each peer it serves which pieces to ask it for
// (BEP 6 Suggest Piece), and a leecher asks a peer for the pieces it suggested first.
//
// A leecher picks what to ask a seed for from its own view of the swarm (rarest first), and two
// leechers served by the same seed do not see each other's requests, nor, when they are not
// connected to each other, each other's pieces. A publisher that serves four leechers at once
// (distpac's capped publisher) then sent the same piece twice: in bench-net (N=32, 1 MiB/s
// links, 20 ms) 64 of 257 pieces, 27 of them asked for by two leechers at once and 37 by a
// leecher that did not know another already had it. The publisher knows both: it assigns each
// connection the pieces given out least often so far, a few at a time (ClientConfig.SuggestPieces),
// and refills as the peer announces them. Anything a peer asks for that was not suggested counts
// as given too, so peers that ignore suggestions (BEP 6 makes them advisory) are served as before
// and still steer the choice for the others.

// refillSuggestions keeps ClientConfig.SuggestPieces pieces suggested to the peer and not yet asked
// for (nor announced) by it. Only a seed suggests, and only to a peer with the fast
// extension that still lacks pieces.
func (cn *PeerConn) refillSuggestions() {
	want := cn.t.cl.config.SuggestPieces
	t := cn.t
	if want <= 0 || !cn.fastEnabled() || !t.haveInfo() || !t.haveAllPieces() || cn.closed.IsSet() {
		return
	}
	if all, known := cn.peerHasAllPieces(); all || !known {
		return
	}
	t.initSuggestions()
	// A peer that queues more than one piece at a time (a deeper queue for a longer round trip)
	// gets as many suggestions as it queues, so that its next batch is all suggested pieces.
	want = max(want, cn.piecesRequested())
	for int(cn.suggestPending.GetCardinality()) < want {
		p := cn.leastGivenPiece()
		if p < 0 {
			return
		}
		cn.suggestOut.Add(uint32(p))
		cn.suggestPending.Add(uint32(p))
		t.giveOut(p)
		cn.write(pp.Message{Type: pp.Suggest, Index: pp.Integer(p)})
	}
}

// initSuggestions sizes the torrent's counts once its info is known.
func (t *Torrent) initSuggestions() {
	if len(t.suggestGiven) != t.numPieces() {
		t.suggestGiven = make([]uint32, t.numPieces())
	}
}

// piecesRequested is how many pieces the peer's queued requests are in.
func (cn *PeerConn) piecesRequested() int {
	var seen [8]pp.Integer
	n := 0
	for r := range cn.peerRequests {
		if n == len(seen) {
			break
		}
		if !slices.Contains(seen[:n], r.Index) {
			seen[n] = r.Index
			n++
		}
	}
	return n
}

// leastGivenPiece is a piece the peer lacks and has not been assigned, given out to the fewest
// peers so far; among those, the one the fewest of the torrent's partial peers have, then the first
// in index order; -1 if there is none. Two peers assigned at the same count get different pieces
// all the same, since the first one's raised its count. In index order (distpac patch 42; a
// random place before) the swarm gets the archive from its start, which its leechers, asking first
// for the pieces after what they have from the start (prefixfirst.go), can unpack while the rest
// arrives.
//
// A piece this seed never gave out that a peer of the torrent has all the same came from another
// seed (distpac patch 47: a mirror, or a seed restarted): it counts as given once. Two seeds
// giving pieces out in the same order each sent the first pieces the other had just sent; a mirror
// gives them out from the last one down (ClientConfig.SuggestFromEnd), and its pieces meet the
// first seed's once. Among pieces given as often, the one its peers have least goes first (patch
// 47; before, the one given out last, as a guess at the same): a publisher whose mirror had just
// downloaded every piece from it, in index order, then gave the clients its pieces from the last
// one down too, the mirror's order.
func (cn *PeerConn) leastGivenPiece() int {
	t := cn.t
	n := len(t.suggestGiven)
	best, bestGiven, bestAvail := -1, uint32(0), 0
	for i := range n {
		p := i
		if t.cl.config.SuggestFromEnd {
			p = n - 1 - i
		}
		if cn.peerHasPiece(p) || cn.suggestOut.Contains(uint32(p)) {
			continue
		}
		g, avail := t.givenCount(p), t.pieces[p].relativeAvailability
		if best < 0 || g < bestGiven || g == bestGiven && avail < bestAvail {
			best, bestGiven, bestAvail = p, g, avail
			if g == 0 {
				break
			}
		}
	}
	return best
}

// givenCount is how many times piece p counts as given out: by this seed, or once when it never
// gave p out and a partial peer has it all the same (another seed's, patch 47).
func (t *Torrent) givenCount(p int) uint32 {
	if g := t.suggestGiven[p]; g > 0 || t.pieces[p].relativeAvailability == 0 {
		return g
	}
	return 1
}

// giveOut counts piece p given out once more, on top of givenCount: a piece first given out that a
// partial peer has all the same is now given twice, or the next peer would be given it too (a
// review: a peer claiming every piece but one had a publisher send each piece twice).
func (t *Torrent) giveOut(p int) { t.suggestGiven[p] = t.givenCount(p) + 1 }

// countRequestedPiece notes a piece the peer asked for: a suggested one is taken up, and the peer
// is given another; one not suggested counts as given to it.
func (cn *PeerConn) countRequestedPiece(piece int) {
	t := cn.t
	if t.cl.config.SuggestPieces <= 0 || !t.haveInfo() || piece < 0 || piece >= t.numPieces() {
		return
	}
	t.initSuggestions()
	if cn.suggestPending.CheckedRemove(uint32(piece)) {
		cn.refillSuggestions()
	} else if cn.suggestOut.CheckedAdd(uint32(piece)) {
		t.giveOut(piece)
	}
}

// suggestionsAnnounced settles a piece the peer now has: it is no longer outstanding, and the peer
// is given another.
func (cn *PeerConn) suggestionsAnnounced(piece int) {
	if cn.suggestOut.CheckedRemove(uint32(piece)) {
		cn.suggestPending.Remove(uint32(piece))
		cn.refillSuggestions()
	}
}

// settleSuggestions is for the peer's first bitfield: suggestions made before it came (they go out
// with the handshake) may be pieces the peer had all along, which were then not given to it. Later
// bitfields (the library takes them at any time) change nothing here: a peer could otherwise
// announce pieces it was sent as had all along.
func (cn *PeerConn) settleSuggestions() {
	if cn.suggestSettled {
		return
	}
	cn.suggestSettled = true
	had := roaring.And(&cn.suggestOut, &cn._peerPieces)
	if had.IsEmpty() {
		return
	}
	cn.t.giveBack(had)
	cn.suggestOut.AndNot(had)
	cn.suggestPending.AndNot(had)
	cn.refillSuggestions()
}

// dropSuggestions gives back what a closing peer was assigned and never announced, so the pieces
// go to the next peer first.
func (cn *PeerConn) dropSuggestions() {
	if cn.suggestOut.IsEmpty() { // also when the connection closed before it had a torrent
		return
	}
	cn.t.giveBack(&cn.suggestOut)
	cn.suggestOut.Clear()
	cn.suggestPending.Clear()
}

// giveBack uncounts pieces assigned and not delivered.
func (t *Torrent) giveBack(pieces *roaring.Bitmap) {
	given := t.suggestGiven
	for it := pieces.Iterator(); it.HasNext(); {
		if p := int(it.Next()); p < len(given) && given[p] > 0 {
			given[p]--
		}
	}
}

// peerSuggested records a piece the peer suggested, for the request order (lessByValue).
func (cn *PeerConn) peerSuggested(piece int) {
	if cn.t.haveInfo() && piece >= 0 && piece < cn.t.numPieces() {
		if len(cn.suggestedSeq) != cn.t.numPieces() {
			cn.suggestedSeq = make([]uint32, cn.t.numPieces())
		}
		cn.suggestedCount++
		cn.suggestedSeq[piece] = cn.suggestedCount
	}
}

// SetScarceSeed marks the peer as a seed whose uplink is scarce, slotRate bytes/s for each peer it
// serves (distpac patch). While the other peers together deliver at least that rate, it is asked
// only for pieces no other connected peer has (until the endgame): its uplink then goes to what the
// swarm lacks. A client whose other peers are slower (one slow peer with every piece) is not held
// to them.
func (cn *PeerConn) SetScarceSeed(slotRate int64) {
	cn.scarceSeedRate = max(slotRate, 0)
}

// othersRateWindow is the time constant of the others' delivery rate.
const othersRateWindow = time.Second

// noteOthersDelivered adds n bytes received at now from a peer that is not a scarce seed.
func (t *Torrent) noteOthersDelivered(n int, now time.Time) {
	t.othersRate = t.othersRateAt(now) + float64(n)/othersRateWindow.Seconds()
	t.othersAt = now
}

// othersRateAt is the others' delivery rate, bytes/s, decayed to now.
func (t *Torrent) othersRateAt(now time.Time) float64 {
	if t.othersAt.IsZero() {
		return 0
	}
	return t.othersRate * math.Exp(-now.Sub(t.othersAt).Seconds()/othersRateWindow.Seconds())
}

// othersCount is what a piece's availability counts that would not serve it to a scarce seed's
// client (distpac patches 47 and 48, othersFor).
type othersCount struct {
	withAll int     // peers with every piece that would not serve
	partial []*Peer // peers with some pieces that would not serve
}

// have is how many peers other than those would serve piece i.
func (o othersCount) have(t *Torrent, i int) int {
	n := t.piece(i).availability() - o.withAll
	for _, p := range o.partial {
		if p.peerHasPiece(i) {
			n--
		}
	}
	return n
}

// othersFor is what leaves the others (askOthersFirst) when a scarce seed is asked: the scarce
// seeds with every piece (patch 47: with two, a publisher and its mirror, every piece had another
// peer, and neither seed was asked for anything while the leechers traded), and peers that would
// not serve (patch 48, servesUs): a hostile peer that claimed every piece and never unchoked, or
// unchoked and never answered, had a capped publisher asked for nothing while the leechers
// traded: 8 clients took 14-34 s for 8 MiB from a 2 MiB/s publisher instead of 4 s (internal/swarm
// TestFakeSeedDoesNotSilenceThePublisher). The partial peers listed are those that would not
// serve, and the seed itself when it is partial.
func (t *Torrent) othersFor(seed *PeerConn) (o othersCount) {
	if _, ok := t.connsWithAllPieces[&seed.Peer]; !ok {
		// a partial seed (a mirror still downloading) has the pieces it is asked for, counted
		// in their availability as a partial peer's
		o.partial = append(o.partial, &seed.Peer)
	}
	for p := range t.connsWithAllPieces {
		if p.scarceSeedRate > 0 || !p.servesUs() {
			o.withAll++
		}
	}
	for c := range t.conns {
		if &c.Peer == &seed.Peer {
			continue
		}
		if _, all := t.connsWithAllPieces[&c.Peer]; !all && !c.servesUs() {
			o.partial = append(o.partial, &c.Peer)
		}
	}
	return o
}

// servesUs is whether the peer would send what it is asked for (distpac patch 48): it does not
// choke us, it has not refused what it was asked for without sending a good piece, and once asked
// for othersRateWindow in all, it sent pieces that passed their hash at servingRate over the time
// it was asked. A review found that a peer counting as serving once it sent a single part (of a
// chunk never completed, so never checked), or refusing every request at once (so that it was
// never asked for long), silenced the publisher as before: 18-24 s for the 4 s above.
func (p *Peer) servesUs() bool {
	if p.peerChoking {
		return false
	}
	good := p.netGoodPiecesDirtied()
	if good <= 0 && p.rejectsUnchoked >= 2 {
		return false
	}
	asked := p.totalExpectingTime()
	if asked < othersRateWindow {
		return true
	}
	return float64(good)*float64(p.t.usualPieceSize()) >= servingRate*asked.Seconds()
}

// servingRate is the least rate, in verified bytes per second of being asked, at which a peer
// counts as serving: a chunk of 64 KiB a second. A slow honest peer below it has the publisher
// asked for its pieces, as before patch 11.
const servingRate = 64 << 10

// askOthersFirst is whether pieces other peers have (that would serve them, othersFor) are left
// out of the requests to this peer:
// it is a scarce seed, the others deliver at least its slot rate, and the download is not in its
// endgame.
func (cn *PeerConn) askOthersFirst() bool {
	t := cn.t
	return cn.scarceSeedRate > 0 &&
		t.numPieces()-t.numPiecesCompleted() > endgamePieces &&
		t.othersRateAt(time.Now()) >= float64(cn.scarceSeedRate)
}
