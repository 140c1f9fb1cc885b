package torrent

import (
	"net/netip"
	"time"
)

// distpac patch 46: a jump budget is the peer address's, not the connection's.
//
// Patches 39 and 45 let a connection of a capped client go before older waiters by rarity once,
// and with a fresh piece twice, per uploadAgeLimit. Those budgets were the connection's, so a
// peer that closed its connection and opened another started afresh (a peer asking for fresh
// pieces and reconnecting every 50 ms took 61 % of a capped uplink among eight peers,
// TestReconnectingKeepsItsJumps; 18 % without reconnecting, TestFreshPiecesCannotTakeTheLink),
// and one connected to several torrents of the client (patch 41 allows two connections per
// torrent and address) held a budget for each. Now every connection from an address counts its
// jumps in one budget, whichever torrent and however often it reconnects. Peers behind one NAT
// share it too: a shared budget costs a peer only the right to go before older waiters, never the
// turn its wait earns. A peer on this host (tests, the benchmark's clients; patch 41 leaves it
// unlimited too) or without an address keeps a budget of its connection's own.

// uploadJumps is when a connection, or the connections of an address, went before older waiters
// lately.
type uploadJumps struct {
	jumped     time.Time // the last time by rarity (patch 39)
	freshSince time.Time // the start of its window of fresh jumps (patch 45)
	fresh      int       // fresh jumps since freshSince
}

// uploadJumpsKept is how many addresses' budgets a client keeps at most. A budget matters for
// uploadAgeLimit after its last jump; those that no longer hold anything back make room for new
// addresses. While the client keeps this many that still do, a new address may not jump: more
// addresses than this jumping within half a second are not one peer's.
const uploadJumpsKept = 1024

// holds is whether the budget still holds anything back at now.
func (j *uploadJumps) holds(now time.Time) bool {
	return now.Sub(j.jumped) < uploadAgeLimit || now.Sub(j.freshSince) < uploadAgeLimit
}

// jumpsAddr is the address whose connections share a budget: the IPv4 address, or the IPv6 /48 (a
// site's range, as the tracker groups peers: a subscriber is given a /48 or /56 and may use a new
// /64 for every connection); false for a loopback peer, this host.
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

// uploadJumpsOf is the budget c's jumps count in: its address's, or c's own. may is false when
// c's address has none and the client keeps uploadJumpsKept budgets that all still hold: c may not
// jump now (the budget returned is then c's own, and is not to be spent). Called with the client
// lock held.
func (c *PeerConn) uploadJumpsOf(now time.Time) (j *uploadJumps, may bool) {
	if !c.bannableAddr.Ok {
		return &c.jumps, true
	}
	a, ok := jumpsAddr(c.bannableAddr.Value)
	if !ok {
		return &c.jumps, true
	}
	cl := c.t.cl
	if j := cl.uploadJumps[a]; j != nil {
		return j, true
	}
	if len(cl.uploadJumps) >= uploadJumpsKept {
		for k, j := range cl.uploadJumps {
			if !j.holds(now) {
				delete(cl.uploadJumps, k)
			}
		}
		if len(cl.uploadJumps) >= uploadJumpsKept {
			return &c.jumps, false
		}
	}
	if cl.uploadJumps == nil {
		cl.uploadJumps = make(map[netip.Addr]*uploadJumps)
	}
	j = new(uploadJumps)
	cl.uploadJumps[a] = j
	return j, true
}
