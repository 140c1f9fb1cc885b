package torrent

import "time"

// distpac patch 49: a peer turning silent is noticed when nothing else happens.
//
// Patch 29 lets a download steal the requests of a silent peer (expected to send for
// silentPeerAfter, nothing useful sent) before the endgame, but only a request update steals, and
// updates follow events: a chunk, a have, a choke. A download whose missing pieces were all asked
// of a peer that unchoked and never answered (a black hole) had no event left: it sat still until
// distpac restarted it after 10 s (internal/swarm stallRestart). In a capped publisher's swarm
// with such a peer beside 8 clients, 8 MiB took 14-34 s instead of 4 s in 3 runs of 4
// (internal/swarm TestFakeSeedDoesNotSilenceThePublisher). Now a peer that starts to be expected
// to send arms a timer for silentPeerAfter; when it fires and the peer is silent, every other
// connection of the torrent updates its requests, and steals; the check is armed again while the
// peer stays silent.

// armSilentCheck has the peer's silence checked after d.
func (p *Peer) armSilentCheck(d time.Duration) {
	if p.silentTimer != nil {
		p.silentTimer.Reset(d)
		return
	}
	p.silentTimer = time.AfterFunc(d, p.checkSilence)
}

// checkSilence runs when the peer may have turned silent: if it has, the torrent's other
// connections update their requests (and steal its); if it is still expected to send, the check
// is armed again for when it would turn silent.
func (p *Peer) checkSilence() {
	p.locker().Lock() // p.t is set before a peer is expected to send
	defer p.locker().Unlock()
	if p.closed.IsSet() || p.lastStartedExpectingToReceiveChunks.IsZero() {
		return
	}
	pc, ok := p.legacyPeerImpl.(*PeerConn)
	if !ok {
		return
	}
	now := time.Now()
	if !pc.silent(now) {
		p.armSilentCheck(p.silentSince().Add(silentPeerAfter + time.Millisecond).Sub(now))
		return
	}
	for c := range p.t.conns {
		if c != pc {
			c.onNeedUpdateRequests("peer silent")
		}
	}
	// Again later, while it stays silent: a round that found no room to steal leaves its
	// requests where they are.
	p.armSilentCheck(silentPeerAfter)
}
