package torrent

import (
	"net/netip"
	"time"
)

// distpac patch 46: a connection's jump budget outlives it, kept by its peer's address.
//
// Patches 39 and 45 let a connection of a capped client go before older waiters by rarity once,
// and with a fresh piece twice, per uploadAgeLimit. Those budgets were the connection's, so a
// peer that closed its connection and opened another started afresh: a peer asking for fresh
// pieces and reconnecting every 50 ms took 61 % of a capped uplink among eight peers
// (TestReconnectingKeepsItsJumps; 18 % without reconnecting, TestFreshPiecesCannotTakeTheLink).
// Now a closing connection leaves its budget under its peer's address, and the next connection
// from that address takes it up at its first turn. The budgets of connections that are open
// together stay their own (a peer holds at most two connections of a torrent, patch 41, and
// peers behind one NAT share an address), so only a reconnection carries one over. A shared
// budget costs a peer only the right to go before older waiters, never the turn its wait earns.

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
// IPv6 /48 (a site's range, as the tracker groups peers: a subscriber is given a /48 or /56 and
// may use a new /64 for every connection); false for a loopback peer, this host (tests, the
// benchmark's clients), which patch 41 leaves unlimited too.
func jumpsAddr(a netip.Addr) (netip.Addr, bool) {
	a = a.Unmap()
	if a.IsLoopback() || !a.IsValid() {
		return netip.Addr{}, false
	}
	if a.Is6() {
		p, _ := a.Prefix(48)
		return p.Addr(), true
	}
	return a, true
}

// merge is the budget of two connections from one address: the later jump, and the fresh jumps
// of both if their windows overlap (else the later window's), at most freshJumps: the budget is
// spent then, and a sum of every reconnection's (a connection takes up the address's budget and
// leaves it again with its own added) would double with each and overflow.
func (j uploadJumps) merge(o uploadJumps) uploadJumps {
	if o.jumped.After(j.jumped) {
		j.jumped = o.jumped
	}
	d := o.freshSince.Sub(j.freshSince)
	switch {
	case d > -uploadAgeLimit && d < uploadAgeLimit:
		j.fresh = min(j.fresh+o.fresh, freshJumps)
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

// jumpsAddr is the address c's budget is kept under (see jumpsAddr), if any.
func (c *PeerConn) jumpsAddr() (netip.Addr, bool) {
	if !c.bannableAddr.Ok {
		return netip.Addr{}, false
	}
	return jumpsAddr(c.bannableAddr.Value)
}

// loadUploadJumps takes up, at c's first turn, the budget its address's closed connections left.
// Called with the client lock held.
func (c *PeerConn) loadUploadJumps() {
	if c.jumpsLoaded {
		return
	}
	c.jumpsLoaded = true
	a, ok := c.jumpsAddr()
	if !ok {
		return
	}
	if left, ok := c.t.cl.uploadJumpsLeft[a]; ok {
		c.jumps = c.jumps.merge(left)
	}
}

// leaveUploadJumps keeps c's budget under its address as c closes, if it jumped at all. Budgets
// that no longer hold anything back are dropped when the client keeps uploadJumpsKept. Called
// with the client lock held.
func (c *PeerConn) leaveUploadJumps() {
	a, ok := c.jumpsAddr()
	if c.t == nil || !ok || (c.jumps.jumped.IsZero() && c.jumps.freshSince.IsZero()) {
		return
	}
	cl := c.t.cl
	if cl.uploadJumpsLeft == nil {
		cl.uploadJumpsLeft = make(map[netip.Addr]uploadJumps)
	}
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
	// jumps count twice then (up to freshJumps), which holds the address back a little longer,
	// never less.
	cl.uploadJumpsLeft[a] = left.merge(c.jumps)
}
