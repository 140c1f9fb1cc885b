package torrent

import "time"

// distpac patch 17: upload slots for a client still downloading (ClientConfig.LeecherUploadSlots).
//
// Upstream a leecher uploads to a peer only while that peer has pieces it wants and it has sent
// the peer at most 100 KiB more than it received from it: in a swarm fed by one capped publisher,
// where data flows outward from the clients the publisher serves, a client with nothing yet gets
// nothing from the others. Serving every interested peer instead (tried first) splits each
// client's uplink among all its peers, so each piece completes later at each of them and is
// passed on later: bench-net N=32 went from 1.53-1.61 to 1.75-1.76 x the bound. With slots a
// client serves a few interested peers at once, any of them, each for at most leecherSlotTerm while
// another waits, and only while it asks, so its pieces complete quickly where they go and every
// peer is served in turn. A seed serves everyone as before.

// leecherSlotTerm is how long a peer keeps a leecher's upload slot while another interested peer
// waits for one; leecherSlotIdle how long it keeps it then with nothing asked (interested in what
// it has asked of others), more than a round trip.
const (
	leecherSlotTerm = 5 * time.Second
	leecherSlotIdle = 250 * time.Millisecond
)

// holdsUploadSlot reports whether the peer may be uploaded to by a leecher with the given number
// of slots per torrent: it is interested, and it holds a slot (within its term and asking, or
// nobody waiting) or one is free.
func (c *PeerConn) holdsUploadSlot(slots int) bool {
	if !c.peerInterested {
		return false
	}
	if !c.choking {
		return c.slotInUse() || !c.t.uploadSlotWanted(c)
	}
	taken := 0
	for o := range c.t.conns {
		if o != c && !o.choking && o.peerInterested && !o.closed.IsSet() {
			taken++
		}
	}
	if taken < slots {
		return true
	}
	// Wake the holders that ask for nothing: they give their slots up to this peer.
	for o := range c.t.conns {
		if o != c && !o.choking && o.peerInterested && !o.closed.IsSet() && !o.slotInUse() {
			o.tickleWriter()
		}
	}
	return false
}

// slotInUse reports whether an unchoked peer keeps its slot even while another waits: its term
// is not over, and it has requests queued, or was unchoked, asked or served within
// leecherSlotIdle (its next requests are a round trip behind its last chunk).
func (c *PeerConn) slotInUse() bool {
	now := time.Now()
	if now.Sub(c.unchokedAt) >= leecherSlotTerm {
		return false
	}
	if len(c.peerRequests) > 0 {
		return true
	}
	for _, at := range [...]time.Time{c.unchokedAt, c.lastPeerRequest, c.lastPeerServed} {
		if now.Sub(at) < leecherSlotIdle {
			return true
		}
	}
	return false
}

// uploadSlotWanted reports whether an interested peer other than c is choked.
func (t *Torrent) uploadSlotWanted(c *PeerConn) bool {
	for o := range t.conns {
		if o != c && o.choking && o.peerInterested && !o.closed.IsSet() {
			return true
		}
	}
	return false
}

// uploadSlotFreed wakes the writers of the interested peers that wait for an upload slot, when c
// may have given one up (choked, lost interest or closed): the first to run takes it.
func (t *Torrent) uploadSlotFreed(c *PeerConn) {
	if t.cl.config.LeecherUploadSlots <= 0 || t.seeding() {
		return
	}
	for o := range t.conns {
		if o != c && o.choking && o.peerInterested && !o.closed.IsSet() {
			o.tickleWriter()
		}
	}
}

// uploadSlotsEnded wakes the writers of the peers still choked for want of a slot once the
// torrent seeds: a seed serves them all, but a peer that already has the last piece gets no have
// (patch 7), so nothing else would wake its writer.
func (t *Torrent) uploadSlotsEnded() {
	if t.cl.config.LeecherUploadSlots <= 0 || !t.seeding() {
		return
	}
	for o := range t.conns {
		if o.choking && o.peerInterested && !o.closed.IsSet() {
			o.tickleWriter()
		}
	}
}
