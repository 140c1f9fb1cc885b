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
// client serves a few interested peers at once, any of them, each as long as it asks, and for at
// most leecherSlotTerm while another waits, so its pieces complete quickly where they go and every
// peer is served in turn. A seed serves everyone as before.

// leecherSlotTerm is how long a peer keeps a leecher's upload slot while another interested peer
// waits for one.
const leecherSlotTerm = 5 * time.Second

// holdsUploadSlot reports whether the peer may be uploaded to by a leecher with the given number
// of slots per torrent: it is interested, and it holds a slot (its term not over, or nobody
// waiting) or one is free.
func (c *PeerConn) holdsUploadSlot(slots int) bool {
	if !c.peerInterested {
		return false
	}
	if !c.choking {
		return time.Since(c.unchokedAt) < leecherSlotTerm || !c.t.uploadSlotWanted(c)
	}
	taken := 0
	for o := range c.t.conns {
		if o != c && !o.choking && o.peerInterested && !o.closed.IsSet() {
			taken++
		}
	}
	return taken < slots
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
