package torrent

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// distpac patch: a capped client's upload tokens go first to the chunk of the rarest piece asked
// of it (PATCHES.md 39).
//
// Every connection with a chunk ready reserved the rate limiter's tokens for it at once, so the
// reservations ran as far ahead as there were connections being served, and a piece the client
// had just completed, which none of its peers had yet, waited behind all of them: in a
// bench-swarm row (N=32, 64 KiB pieces, u=2 MiB/s) a fresh piece reached its second holder 0.25 s
// (median) after its first, behind 7 chunks of other pieces sent meanwhile, and the publisher's
// last pieces took 1.4 s to reach every client. Now a connection reserves only when the limiter
// owes nothing (the reservations before are paid for: its own tokens are then due within the time
// its chunks take to send, and the link stays busy), and no connection waiting for a rarer piece
// is before it; otherwise it waits, and one timer
// wakes the first waiter's writer when its turn comes. Rarity is the piece's availability among
// the peers of its torrent (the torrents of a client share its limiter, and its waiters); a
// connection that has waited uploadAgeLimit goes before rarer ones, so a common piece is late,
// not starved, and a connection goes before an older waiter by rarity at most once in that time,
// so that no peer takes the link by asking for rare pieces (nor by reconnecting, nor with
// connections to several torrents: the budget is the address's, patch 46). Measured in PATCHES.md.
//
// A scarce seed (SuggestPieces, the publisher) is left as it was: every piece it sends is one its
// peers lack, and it sends each chunk as soon as its tokens are due. A client without a cap has
// no queue of its own to order (its queue is the kernel's).

// uploadWaiter is a connection waiting for its turn at the capped upload rate limiter.
type uploadWaiter struct {
	avail int       // how many of the client's peers have the piece of its next chunk
	since time.Time // when it began to wait
	woken time.Time // when its turn came (its writer was woken); zero before
}

// uploadAgeLimit is how long a connection waits behind rarer pieces at most.
const uploadAgeLimit = 500 * time.Millisecond

// freshAvail is the most peers of the torrent (seeds left out: a capped publisher is scarce) that
// may have a piece for it to be fresh, one this client completed within freshWindow (distpac patch
// 45). A chunk of a fresh piece is not held back by the jump limit, freshJumps times per
// uploadAgeLimit at most, and a have of a piece that no other partial peer has starts a request
// update even with requests queued at that peer (peerSentHave). Logged in a
// bench-swarm row (N=32, 64 KiB pieces, u=2 MiB/s): a fresh piece's second copy completed 0.23 s
// (median) after its first; 46 ms of it the requester waited for its queue at the holder to
// drain before it asked, and 60 ms the holder's chunk waited behind connections that had jumped
// lately (or, after them, its own tokens: see upload).
const freshAvail = 1

// freshWindow is how long after this client completed a piece the piece may be fresh: the time
// its first copies take to leave. A piece it has had longer (a seed's, every piece of a torrent
// whose other peers are gone) is not, whatever a peer that never announces it asks.
const freshWindow = time.Second

// freshJumps is how many times a connection may go before an older waiter with a fresh piece in
// uploadAgeLimit. A client downloading at 2 MiB/s completes 32 pieces of 64 KiB a second and
// passes each on first to one or two of its peers, a few a second for each; a peer that asks
// for fresh pieces again and again (a review: it took 58-94 % of a capped uplink with the
// exemption unbounded) goes first six times a second at most: these two and the jump by rarity
// before them.
const freshJumps = 2

// fewHave is whether at most freshAvail of the torrent's partial peers have p: this client's view
// of a fresh piece, whether it holds p (freshTurn) or learns that a peer does (peerSentHave).
func (p *Piece) fewHave() bool { return p.relativeAvailability <= freshAvail }

// freshTurn is whether c's chunk of p is of a fresh piece that may go before older waiters, with
// j the budget c's jumps count in (uploadJumpsOf).
func (c *PeerConn) freshTurn(p *Piece, now time.Time, j *uploadJumps) bool {
	if !p.fewHave() || p.completedAt.IsZero() || now.Sub(p.completedAt) >= freshWindow {
		return false
	}
	return now.Sub(j.freshSince) >= uploadAgeLimit || j.fresh < freshJumps
}

// uploadTurnLapse is how long a waiter whose turn came may take to use it. A writer blocked on a
// peer that does not read (or with a full write buffer) does not come: it loses its place instead
// of holding up every other connection of the client.
const uploadTurnLapse = 100 * time.Millisecond

// before is whether w's turn comes before o's: one that waited uploadAgeLimit first, then the
// rarer piece, then the longer wait.
func (w uploadWaiter) before(o uploadWaiter, now time.Time) bool {
	wOld, oOld := now.Sub(w.since) >= uploadAgeLimit, now.Sub(o.since) >= uploadAgeLimit
	if wOld != oOld {
		return wOld
	}
	if !wOld && w.avail != o.avail {
		return w.avail < o.avail
	}
	return w.since.Before(o.since)
}

// lapsed is whether w's turn came and went unused.
func (w uploadWaiter) lapsed(now time.Time) bool {
	return !w.woken.IsZero() && now.Sub(w.woken) > uploadTurnLapse
}

// uploadOrdered is whether the connection's uploads take turns by rarity.
func (c *PeerConn) uploadOrdered() bool {
	cfg := c.t.cl.config
	lim := cfg.UploadRateLimiter.Limit()
	return lim != rate.Inf && lim > 0 && cfg.SuggestPieces <= 0
}

// uploadOwed is how long from now the limiter takes to pay what it owes, and reserved more: 0 or
// less when it owes nothing.
func uploadOwed(lim *rate.Limiter, reserved int, now time.Time) time.Duration {
	return time.Duration((float64(reserved) - lim.TokensAt(now)) / float64(lim.Limit()) * float64(time.Second))
}

// uploadTurn is whether c may reserve n tokens for sending r (and the chunks batched with it) now.
// If not, c waits its turn and its writer is woken when it comes. Called with the client lock held.
func (c *PeerConn) uploadTurn(r Request, n int, now time.Time) bool {
	if !c.uploadOrdered() {
		return true
	}
	cl := c.t.cl
	lim := cl.config.UploadRateLimiter
	w, waiting := cl.uploadWaiters[c]
	if !waiting || w.lapsed(now) { // a lapsed turn is lost: it waits anew
		w.since = now
	}
	piece := c.t.piece(int(r.Index))
	w.avail, w.woken = piece.availability(), time.Time{}
	j, may := c.uploadJumpsOf(now) // its address's budget (patch 46)
	fresh := may && c.freshTurn(piece, now, j)
	if (now.Sub(j.jumped) < uploadAgeLimit || !may) && !fresh {
		// It went before an older waiter by rarity lately: until the age limit, its turn comes
		// by its wait alone, so that a peer asking for rare pieces (or claiming to lack them)
		// again and again does not take the link from the others. A fresh piece (patch 45) is
		// exempt, within freshJumps.
		w.avail = math.MaxInt
	}
	first, fc := cl.firstUploadWaiter(now, c)
	if (fc == nil || !first.before(w, now)) && uploadOwed(lim, 0, now) <= 0 {
		if cl.olderUploadWaiter(w.since, c) && may {
			j.jumped = now
			if fresh {
				if now.Sub(j.freshSince) >= uploadAgeLimit {
					j.freshSince, j.fresh = now, 0
				}
				j.fresh++
			}
		}
		delete(cl.uploadWaiters, c)
		cl.scheduleUploadTurn(now, n)
		return true
	}
	if cl.uploadWaiters == nil {
		cl.uploadWaiters = make(map[*PeerConn]uploadWaiter)
	}
	cl.uploadWaiters[c] = w
	cl.scheduleUploadTurn(now, 0)
	return false
}

// leaveUploadTurn takes c out of the waiters: it has nothing to send, is choked or closed (also
// before it had a torrent, when it cannot be waiting).
func (c *PeerConn) leaveUploadTurn() {
	if c.t == nil {
		return
	}
	cl := c.t.cl
	if _, ok := cl.uploadWaiters[c]; ok {
		delete(cl.uploadWaiters, c)
		cl.scheduleUploadTurn(time.Now(), 0)
	}
}

// olderUploadWaiter is whether a waiter other than except began to wait before since.
func (cl *Client) olderUploadWaiter(since time.Time, except *PeerConn) bool {
	for c, w := range cl.uploadWaiters {
		if c != except && w.since.Before(since) {
			return true
		}
	}
	return false
}

// firstUploadWaiter is the entry of the waiter whose turn comes first, other than except, and
// the waiter (nil if none); lapsed waiters are dropped on the way. By value: a pointer escaped, one
// allocation at every turn (1 % of the daemons' CPU in a bench-swarm profile).
func (cl *Client) firstUploadWaiter(now time.Time, except *PeerConn) (uploadWaiter, *PeerConn) {
	var first *PeerConn
	var fw uploadWaiter
	for c, w := range cl.uploadWaiters {
		if w.lapsed(now) {
			delete(cl.uploadWaiters, c)
			continue
		}
		if c != except && (first == nil || w.before(fw, now)) {
			first, fw = c, w
		}
	}
	return fw, first
}

// scheduleUploadTurn sets the client's one turn timer for the first waiter's turn (stops it when
// none waits); reserved is what is being reserved now and not yet counted by the limiter.
func (cl *Client) scheduleUploadTurn(now time.Time, reserved int) {
	fw, c := cl.firstUploadWaiter(now, nil)
	if c == nil {
		if cl.uploadTurnTimer != nil {
			cl.uploadTurnTimer.Stop()
		}
		return
	}
	delay := max(0, cl.uploadTurnDelay(fw, now, reserved))
	if cl.uploadTurnTimer == nil {
		cl.uploadTurnTimer = time.AfterFunc(delay, cl.uploadTurnDue)
	} else {
		cl.uploadTurnTimer.Reset(delay)
	}
}

// uploadTurnDelay is how long until w's turn comes (the limiter owes nothing, reserved more being
// reserved now) or, when it came, until it lapses.
func (cl *Client) uploadTurnDelay(w uploadWaiter, now time.Time, reserved int) time.Duration {
	if !w.woken.IsZero() {
		return w.woken.Add(uploadTurnLapse + time.Millisecond).Sub(now)
	}
	return uploadOwed(cl.config.UploadRateLimiter, reserved, now)
}

// uploadTurnDue is the turn timer's: it wakes the writer of the waiter whose turn it is.
func (cl *Client) uploadTurnDue() {
	cl.lock()
	defer cl.unlock()
	cl.uploadTurnAt(time.Now())
}

// uploadTurnAt wakes the first waiter's writer once its turn has come (once: when its turn lapses,
// it is dropped and the next one's comes), and sets the timer for what is due next. Called with
// the client lock held.
func (cl *Client) uploadTurnAt(now time.Time) {
	fw, c := cl.firstUploadWaiter(now, nil)
	if c != nil && fw.woken.IsZero() && cl.uploadTurnDelay(fw, now, 0) <= 0 {
		fw.woken = now
		cl.uploadWaiters[c] = fw
		c.tickleWriter()
	}
	cl.scheduleUploadTurn(now, 0)
}
