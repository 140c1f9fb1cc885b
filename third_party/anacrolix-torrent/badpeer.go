package torrent

import "errors"

// distpac patch 56: a peer that breaks the protocol in a way no honest peer does is banned.
//
// The receive path refuses a block of the wrong length (the decoder one longer than the
// torrent's chunk), one never asked for (beyond the answers still due to requests and cancels:
// validReceiveChunks, partAnswered), and one of a piece the torrent does not have, and the read
// loop ends the connection with the error; so does a have of such a piece. That was all: nothing remembered the peer, and the next announce or PEX message
// that named it had it dialled again, for the life of the client (a daemon's: every later
// download). A peer whose piece fails its hash is banned by address (providedBadData); these
// peers are banned the same way, trusted peers excepted as there (patch 55): the publisher's
// seeder is disconnected and dialled again when distpac names it again.

// peerViolation is an error of a message no honest peer sends.
type peerViolation struct{ err error }

func (v peerViolation) Error() string { return v.err.Error() }
func (v peerViolation) Unwrap() error { return v.err }

// violation marks err, the refusal of a message of the peer's, as a violation that bans it.
func violation(err error) error { return peerViolation{err} }

// banIfViolation bans the peer's address when err, which ends the connection, is a violation
// (and the peer is not trusted), with one line saying which peer and what it sent. The client
// lock is held.
func (c *PeerConn) banIfViolation(err error) {
	if !errors.As(err, new(peerViolation)) {
		return
	}
	if c.trusted {
		c.t.slogger().Info("trusted peer broke the protocol. disconnecting it, not banned",
			"addr", c.RemoteAddr, "peer", c, "err", err)
		return
	}
	if c.remoteIp() == nil { // no IP address to ban (a test's pipe): disconnected only
		return
	}
	c.t.slogger().Info("peer broke the protocol. banning peer", "addr", c.RemoteAddr, "for", peerBanDuration, "peer", c, "err", err)
	c.providedBadData()
}
