package torrent

import "time"

// distpac patch 59: what a peer does for our download, for the embedding program to judge peers
// that claim pieces and never serve them. A peer that claimed every piece and kept us choked for
// good, or unchoked us and answered no request, counted as a source for distpac for as long as it
// stayed connected: a download with no other source waited for its caller's two-minute stall
// timeout instead of failing within seconds, and the error named no peer (an attacker's run).
// Upstream exports no choke state.

// PeerServing is what a peer did for our download so far (PeerConn.Serving).
type PeerServing struct {
	// Choking: the peer chokes us, since ChokedAt (its handshake when it has not unchoked us
	// since).
	Choking  bool
	ChokedAt time.Time
	// Handshake is when the connection completed its handshake; LastUseful when the peer last
	// sent a chunk we wanted (zero: never).
	Handshake  time.Time
	LastUseful time.Time
	// Requests is how many of our requests wait at the peer.
	Requests int
}

// Serving returns what the peer did for our download so far.
func (cn *PeerConn) Serving() PeerServing {
	cn.locker().RLock()
	defer cn.locker().RUnlock()
	s := PeerServing{
		Choking:    cn.peerChoking,
		Handshake:  cn.completedHandshake,
		LastUseful: cn.lastUsefulChunkReceived,
		Requests:   int(cn.requestState.Requests.GetCardinality()),
	}
	if s.Choking {
		s.ChokedAt = cn.peerChokedAt
		if s.ChokedAt.Before(s.Handshake) {
			s.ChokedAt = s.Handshake
		}
	}
	return s
}
