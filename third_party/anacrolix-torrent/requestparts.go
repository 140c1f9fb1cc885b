package torrent

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// distpac patch 35: chunks longer than BEP 3's 16 KiB, asked of peers that take them.
//
// A torrent's chunk size (TorrentSpec.ChunkSize) is the length of the requests this client makes.
// Longer chunks cost less CPU per byte: a quarter of the messages, writes, request updates and
// wake-ups. distpac measured its bench-swarm row (N=16, F=16 MiB, U=u=2 MiB/s) at 5.2-5.5 s of
// CPU with 64 KiB chunks against 7.3-7.5 s with 16 KiB. But most clients refuse requests longer
// than 16 KiB: libtorrent rejects them, Transmission drops the connection. So a chunk is asked
// of a peer as one request only when the peer's extended handshake says it serves requests that
// long ("distpac_max_request", ExtendedHandshakeMessage.MaxRequest, which other clients ignore
// as BEP 10 asks); of any other peer it is asked as parts of 16 KiB, and the parts that come
// back are gathered into the whole chunk before the chunk is received (receivePart), so storage,
// smart ban and piece hashing see whole chunks whatever the peer.
//
// A part answers a request that is outstanding at the peer, or it is dropped: so the chunk
// buffers a connection holds for parts are at most its request queue, and at most
// maxGatheringChunks (a peer that begins more chunks than that without ending one is dropped: a
// peer that sent no extended handshake keeps the library's queue of 250). A part received counts
// as useful data received (lastUsefulChunkReceived: a peer that sends parts is not silent). A
// cancel of a chunk asked as parts is a cancel of each part not in yet; where the peer
// acknowledges cancels (BEP 6), the chunk stays cancelled, and is not asked again of the peer,
// until every one of those parts is answered (partAcks), so that a late answer cannot take a new
// request of the same chunk for its own. A reject of a part rejects the chunk, which then waits
// in the same way for the answers to its other parts. A part of a chunk never asked for, and a
// reject neither asked nor due, are errors, as upstream's for whole chunks.

// requestPartLength is the length of the parts a chunk is asked as of a peer that does not take
// whole chunks: BEP 3's.
const requestPartLength = pp.Integer(defaultChunkSize)

// partPool holds the buffers of parts read for peers that ask for parts (readPeerRequestData).
var partPool = chunkPoolOf(requestPartLength)

// maxRequestParts bounds the parts of a chunk (the parts received are a bitmask).
const maxRequestParts = 64

// maxGatheringChunks is how many chunks a connection gathers parts of at once. A peer serves
// requests in the order it got them, so it ends one chunk before it begins the next, give or take
// one.
const maxGatheringChunks = 16

// chunkParts gathers the parts of one chunk.
type chunkParts struct {
	buf []byte // a buffer of the torrent's chunk pool, the chunk's length
	got uint64 // bit i: part i is in
}

// servedRequestLength is the longest request this client serves, as it tells peers: what the
// upload rate limiter's burst and the per-connection request data budget allow (onReadRequest).
func (cl *Client) servedRequestLength() int {
	n := cl.config.MaxAllocPeerRequestDataPerConn
	if l := cl.config.UploadRateLimiter; l.Limit() != rate.Inf {
		n = min(n, l.Burst())
	}
	return max(n, 0)
}

// requestParts is how many requests a chunk of the torrent is asked as of this peer: 1 when the
// peer serves whole chunks.
func (c *PeerConn) requestParts() int {
	if c.t == nil || c.t.chunkSize <= requestPartLength || c.peerMaxRequest >= c.t.chunkSize {
		return 1
	}
	return int((c.t.chunkSize + requestPartLength - 1) / requestPartLength)
}

// writeRequestParts writes a message of type typ (Request or Cancel) for r: one, or one for each
// part (requestParts) not in skip (bit i: part i). It returns what the last write returned and
// the parts written (bit 0 for a whole chunk).
func (c *PeerConn) writeRequestParts(typ pp.MessageType, r Request, skip uint64) (notFull bool, written uint64) {
	if c.requestParts() == 1 {
		return c.write(pp.Message{Type: typ, Index: r.Index, Begin: r.Begin, Length: r.Length}), 1
	}
	for i, off := 0, pp.Integer(0); off < r.Length; i, off = i+1, off+requestPartLength {
		if skip&(1<<i) == 0 {
			notFull = c.write(pp.Message{Type: typ, Index: r.Index, Begin: r.Begin + off, Length: min(requestPartLength, r.Length-off)})
			written |= 1 << i
		}
	}
	return
}

// writeCancelParts writes the cancel of request r: whole, or of each part not in yet (cancel
// noted those in cancelledParts before it dropped them). It returns the parts cancelled.
func (c *PeerConn) writeCancelParts(r RequestIndex) uint64 {
	got := c.cancelledParts
	c.cancelledParts = 0
	_, due := c.writeRequestParts(pp.Cancel, c.t.requestIndexToRequest(r), got)
	return due
}

// expectPartAcks notes the parts of cancelled chunk r whose answers are due, when it was asked
// as parts.
func (c *PeerConn) expectPartAcks(r RequestIndex, due uint64) {
	if c.requestParts() == 1 {
		return
	}
	if c.partAcks == nil {
		c.partAcks = make(map[RequestIndex]uint64)
	}
	c.partAcks[r] = due
}

// partAnswered takes a piece or reject of part bit of chunk r, which is not requested. It
// reports whether it was an answer due to a cancel; the last such answer acknowledges the cancel
// of the chunk, as a reject of the whole chunk would (remoteRejectedRequest).
func (c *PeerConn) partAnswered(r RequestIndex, bit uint64) bool {
	due, ok := c.partAcks[r]
	if !ok || due&bit == 0 {
		return false
	}
	if due &^= bit; due != 0 {
		c.partAcks[r] = due
		return true
	}
	delete(c.partAcks, r)
	c.remoteRejectedRequest(r)
	return true
}

// partOf returns the chunk request that the piece, request or reject r is a part of, and ok true
// when r is shorter than that chunk. An r that fits no chunk is not a part (ok false): it goes
// the way of a whole chunk, whose checks refuse it.
func (t *Torrent) partOf(r Request) (chunk Request, ok bool) {
	if !t.haveInfo() || int(r.Index) >= t.numPieces() || t.chunkSize <= 0 {
		return
	}
	pieceLength := pp.Integer(t.pieceLength(pieceIndex(r.Index)))
	if r.Begin >= pieceLength {
		return
	}
	begin := r.Begin / t.chunkSize * t.chunkSize
	chunk = Request{Index: r.Index, ChunkSpec: ChunkSpec{Begin: begin, Length: min(t.chunkSize, pieceLength-begin)}}
	return chunk, r.Length < chunk.Length
}

// checkPart reports whether r is a whole part of chunk (at a part's start, a part long), and
// which: bit i for part i.
func checkPart(r, chunk Request) (bit uint64, err error) {
	off := r.Begin - chunk.Begin
	if off%requestPartLength != 0 || r.Length != min(requestPartLength, chunk.Length-off) {
		return 0, fmt.Errorf("%v bytes at %v of piece %v are not a part of its chunk at %v (parts of %v)",
			r.Length, r.Begin, r.Index, chunk.Begin, requestPartLength)
	}
	return 1 << (off / requestPartLength), nil
}

// allParts is the bits of every part of chunk.
func allParts(chunk Request) uint64 {
	return 1<<((chunk.Length+requestPartLength-1)/requestPartLength) - 1
}

// partWasted counts a part received and not used.
func (c *PeerConn) partWasted(why string) {
	ChunksReceived.Add(why, 1)
	c.modifyRelevantConnStats(add(1, func(cs *ConnStats) *Count { return &cs.ChunksReadWasted }))
}

// onReadPiece takes a piece message: a whole chunk, or a part of one.
func (c *PeerConn) onReadPiece(msg *pp.Message) error {
	r := newRequestFromMessage(msg)
	if chunk, part := c.t.partOf(r); part {
		return c.receivePart(msg, r, chunk)
	}
	return c.receiveChunk(msg)
}

// onReadReject takes a reject of a whole chunk or of a part of one, and reports whether it was
// valid.
func (c *PeerConn) onReadReject(r Request) bool {
	chunk, part := c.t.partOf(r)
	if !part {
		chunk = r
	}
	req := c.t.requestIndexFromRequest(chunk)
	// distpac patch 48: a refusal of a request still outstanding, while the peer does not choke
	// us (not the answer to a cancel, nor the rejects that follow a choke), counts against it.
	if c.requestState.Requests.Contains(req) && !c.peerChoking {
		c.rejectsUnchoked++
	}
	if part {
		return c.rejectedPart(r, chunk)
	}
	return c.remoteRejectedRequest(req)
}

// receivePart takes a piece message msg, r as a request, that is a part of chunk (partOf).
func (c *PeerConn) receivePart(msg *pp.Message, r, chunk Request) error {
	t := c.t
	bit, err := checkPart(r, chunk)
	if err != nil {
		return violation(err) // distpac patch 56
	}
	req := t.requestIndexFromRequest(chunk)
	if !c.requestState.Requests.Contains(req) {
		// An answer to a part cancelled or rejected, or one in flight when the peer choked us
		// (the chunk is still expected, as the library keeps a whole chunk: validReceiveChunks).
		if !c.partAnswered(req, bit) && c.validReceiveChunks[req] <= 0 {
			return violation(fmt.Errorf("a part of a chunk never asked for (%v bytes at %v of piece %v)", r.Length, r.Begin, r.Index)) // distpac patch 56
		}
		c.partWasted("part of a chunk not requested")
		return nil
	}
	if c.parts == nil {
		c.parts = make(map[RequestIndex]chunkParts)
	}
	p, ok := c.parts[req]
	if !ok {
		if len(c.parts) >= maxGatheringChunks {
			return fmt.Errorf("parts of %d chunks begun and none ended (at most %d)", len(c.parts)+1, maxGatheringChunks)
		}
		p.buf = t.getChunkBuffer()[:chunk.Length]
	}
	if p.got&bit != 0 {
		c.partWasted("part received twice")
		return nil
	}
	copy(p.buf[r.Begin-chunk.Begin:], msg.Piece)
	p.got |= bit
	c.lastUsefulChunkReceived = time.Now()
	if p.got != allParts(chunk) {
		c.parts[req] = p
		return nil
	}
	// Out of the map first: receiving the chunk deletes its request, which drops the request's
	// parts (dropParts).
	delete(c.parts, req)
	whole := pp.Message{Type: pp.Piece, Index: chunk.Index, Begin: chunk.Begin, Piece: p.buf}
	err = c.receiveChunk(&whole)
	t.putChunkBuffer(p.buf)
	return err
}

// rejectedPart takes a reject of a part of chunk, and reports whether it was valid: a reject of
// a part asked, or one due (partAnswered). The first rejects the chunk's request; the peer will
// answer each of its other parts not in yet (BEP 6: rejects come only from peers that answer
// every request), so the chunk stays cancelled at this peer until they are in, as after a cancel.
// Asked again at once, a late reject of an old part would reject the new request, and a peer on
// this library would see its parts asked twice (a duplicate request closes the connection).
func (c *PeerConn) rejectedPart(r, chunk Request) bool {
	bit, err := checkPart(r, chunk)
	if err != nil {
		return false
	}
	req := c.t.requestIndexFromRequest(chunk)
	if !c.requestState.Requests.Contains(req) {
		return c.partAnswered(req, bit)
	}
	due := allParts(chunk) &^ c.parts[req].got &^ bit
	if due == 0 || c.requestState.Cancelled.Contains(req) {
		return c.remoteRejectedRequest(req)
	}
	c.deleteRequest(req)
	c.decPeakRequests()
	c.requestState.Cancelled.Add(req) // validReceiveChunks stays until the last answer (partAnswered)
	c.expectPartAcks(req, due)
	return true
}

// dropParts gives back the buffer of the parts gathered for request r, when it leaves the
// connection's requests.
func (c *PeerConn) dropParts(r RequestIndex) {
	if p, ok := c.parts[r]; ok {
		delete(c.parts, r)
		c.t.putChunkBuffer(p.buf)
	}
}

// onPeerMaxRequest reads the longest request a peer serves from its first extended handshake
// (a later one may not change how requests already sent are answered), and turns its reqq, which
// counts its requests, into chunks this client asks of it.
func (c *PeerConn) onPeerMaxRequest(d *pp.ExtendedHandshakeMessage) {
	first := c.PeerExtensionIDs == nil // set by the first handshake, after this
	if first && c.validReceiveChunks == nil {
		// Not once requests went out as parts (a peer that unchoked us before its handshake):
		// their cancels must go as parts too.
		c.peerMaxRequest = pp.Integer(min(max(d.MaxRequest, 0), 1<<30))
	}
	if parts := c.requestParts(); parts > 1 && (d.Reqq > 0 || first) {
		reqq := d.Reqq
		if reqq <= 0 {
			reqq = 250 // the library's default (newConnection)
		}
		d.Reqq = max(1, reqq/parts)
	}
}
