package torrent

import (
	"net/netip"
	"time"
)

// distpac patch 46: a connection's jump budget outlives it, kept by its peer's address.
//
// Patches 39 and 45 let a connection of a capped client go before older waiters by rarity once,
// and with a fresh piece twice, per uploadAgeLimit. Those budgets were the connection's, so a
// peer that closed its connection and opened another started afresh: in a review's simulation a
// peer reconnecting every 50 ms took 63 % of a capped uplink among eight peers (15 % without
// reconnecting; TestReconnectingKeepsItsJumps). Now a closing connection leaves its budget under
// its peer's address, and the next connection from that address takes it up at its first turn.
// The budgets of connections that are open together stay their own (a peer holds at most two
// connections of a torrent, patch 41, and peers behind one NAT share an address), so only a
// reconnection carries one over.

// uploadJumps is when a connection went before older waiters lately.
type uploadJumps struct {
	jumped     time.Time // the last time by rarity (patch 39)
	freshSince time.Time // the start of its window of fresh jumps (patch 45)
	fresh      int       // fresh jumps since freshSince
}

// uploadJumpsKept is how many addresses' budgets a client keeps at most. A budget matters for
// uploadAgeLimit after its last jump; more addresses than this closing connections within that
// time are not one peer reconnecting.
const uploadJumpsKept = 1024

// jumpsAddr is the address whose connections share a budget over time: the IPv4 address, or the
// IPv6 /64 (one host or subscriber's range, in which a peer may pick a new address for every
// connection).
func jumpsAddr(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// merge is the budget of two connections from one address: the later jump, and the fresh jumps
// of both if their windows overlap (else the later window's).
func (j uploadJumps) merge(o uploadJumps) uploadJumps {
	if o.jumped.After(j.jumped) {
		j.jumped = o.jumped
	}
	d := o.freshSince.Sub(j.freshSince)
	switch {
	case d > -uploadAgeLimit && d < uploadAgeLimit:
		j.fresh += o.fresh
		if d > 0 {
			j.freshSince = o.freshSince
		}
	case d > 0:
		j.freshSince, j.fresh = o.freshSince, o.fresh
	}
	return j
}

// holds is whether the budget still holds anything back at now.
func (j uploadJumps) holds(now time.Time) bool {
	return now.Sub(j.jumped) < uploadAgeLimit || now.Sub(j.freshSince) < uploadAgeLimit
}

// loadUploadJumps takes up, at c's first turn, the budget its address's closed connections left.
// Called with the client lock held.
func (c *PeerConn) loadUploadJumps() {
	if c.jumpsLoaded {
		return
	}
	c.jumpsLoaded = true
	if !c.bannableAddr.Ok {
		return
	}
	if left, ok := c.t.cl.uploadJumpsLeft[jumpsAddr(c.bannableAddr.Value)]; ok {
		c.jumps = c.jumps.merge(left)
	}
}

// leaveUploadJumps keeps c's budget under its address as c closes, if it jumped at all. Budgets
// that no longer hold anything back are dropped when the client keeps uploadJumpsKept. Called
// with the client lock held.
func (c *PeerConn) leaveUploadJumps() {
	if c.t == nil || !c.bannableAddr.Ok || (c.jumps.jumped.IsZero() && c.jumps.freshSince.IsZero()) {
		return
	}
	cl := c.t.cl
	if cl.uploadJumpsLeft == nil {
		cl.uploadJumpsLeft = make(map[netip.Addr]uploadJumps)
	}
	a := jumpsAddr(c.bannableAddr.Value)
	left, ok := cl.uploadJumpsLeft[a]
	if !ok && len(cl.uploadJumpsLeft) >= uploadJumpsKept {
		now := time.Now()
		for k, j := range cl.uploadJumpsLeft {
			if !j.holds(now) {
				delete(cl.uploadJumpsLeft, k)
			}
		}
		if len(cl.uploadJumpsLeft) >= uploadJumpsKept {
			return
		}
	}
	// c may have taken up left at its first turn, and another connection from a too: its fresh
	// jumps count twice then, which holds the address back a little longer, never less.
	cl.uploadJumpsLeft[a] = left.merge(c.jumps)
}
