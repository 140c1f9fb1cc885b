// Package peertest is a raw BitTorrent peer for attack tests: it speaks
// just enough of BEP 3 and BEP 6 to ask a seeder for data and then
// misbehave. It is never linked into the binaries.
package peertest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// Hoarder is one connection that requested blocks and does not read the
// replies.
type Hoarder struct {
	Conn net.Conn
}

// Close ends the connection.
func (h *Hoarder) Close() error { return h.Conn.Close() }

// Hoard connects to addr for the torrent ih, waits to be unchoked, then
// requests every 16 KiB block of the first pieces whole pieces of
// pieceLen bytes (all at once, as one write) and stops reading. The
// seeder then holds the data of whatever it agreed to queue.
func Hoard(ctx context.Context, addr string, ih [20]byte, pieces int, pieceLen int) (*Hoarder, error) {
	var blocks [][3]uint32
	for p := 0; p < pieces; p++ {
		for off := 0; off < pieceLen; off += 16 << 10 {
			blocks = append(blocks, [3]uint32{uint32(p), uint32(off), 16 << 10})
		}
	}
	return Request(ctx, addr, ih, blocks)
}

// Request connects to addr for the torrent ih, waits to be unchoked, sends
// a request for each block (piece index, offset, length; any values, as an
// attacker would) in one write and stops reading.
func Request(ctx context.Context, addr string, ih [20]byte, blocks [][3]uint32) (*Hoarder, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	fail := func(err error) (*Hoarder, error) {
		c.Close()
		return nil, fmt.Errorf("hoard %s: %w", addr, err)
	}
	hs := make([]byte, 0, 68)
	hs = append(hs, 19)
	hs = append(hs, "BitTorrent protocol"...)
	reserved := [8]byte{}
	reserved[7] |= 0x04 // fast extension (BEP 6): over-budget requests are rejected, not fatal
	hs = append(hs, reserved[:]...)
	hs = append(hs, ih[:]...)
	var id [20]byte
	copy(id[:], fmt.Sprintf("-HD0001-%012d", time.Now().UnixNano()%1e12))
	hs = append(hs, id[:]...)
	// interested
	hs = append(hs, 0, 0, 0, 1, 2)
	if _, err := c.Write(hs); err != nil {
		return fail(err)
	}
	r := bufio.NewReader(c)
	theirs := make([]byte, 68)
	if _, err := io.ReadFull(r, theirs); err != nil {
		return fail(fmt.Errorf("handshake: %w", err))
	}
	// Read messages until unchoked.
	for {
		var lenBuf [4]byte
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return fail(fmt.Errorf("waiting for unchoke: %w", err))
		}
		n := binary.BigEndian.Uint32(lenBuf[:])
		if n > 1<<20 {
			return fail(fmt.Errorf("message of %d bytes", n))
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return fail(err)
		}
		if n > 0 && msg[0] == 1 { // unchoke
			break
		}
	}
	var reqs []byte
	for _, b := range blocks {
		m := make([]byte, 17)
		binary.BigEndian.PutUint32(m[0:], 13)
		m[4] = 6 // request
		binary.BigEndian.PutUint32(m[5:], b[0])
		binary.BigEndian.PutUint32(m[9:], b[1])
		binary.BigEndian.PutUint32(m[13:], b[2])
		reqs = append(reqs, m...)
	}
	if _, err := c.Write(reqs); err != nil {
		return fail(err)
	}
	c.SetDeadline(time.Time{})
	// Shrink what the kernel takes in for us, so the seeder's writes
	// block soon and its memory, not the kernel's, holds the data.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	return &Hoarder{Conn: c}, nil
}
