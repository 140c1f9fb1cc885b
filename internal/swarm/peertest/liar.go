package peertest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LiarMode is how a Liar answers a request.
type LiarMode int

const (
	// Corrupt answers every request with a block of the length asked for
	// whose bytes are not the torrent's.
	Corrupt LiarMode = iota
	// ShortBlocks answers every request with a block one byte short.
	ShortBlocks
	// Silent takes every request and never answers.
	Silent
)

func (m LiarMode) String() string {
	switch m {
	case Corrupt:
		return "corrupt blocks"
	case ShortBlocks:
		return "blocks one byte short"
	case Silent:
		return "no answer"
	}
	return fmt.Sprintf("LiarMode(%d)", int(m))
}

// Liar is a hostile seed of one torrent speaking plain BEP 3 (no
// extension bits): to every connection for the torrent it sends a full
// bitfield and an unchoke, and then answers requests as its Mode says.
// It records every request and when each connection ended, for a test
// to check what a downloader asked of it after it should have been
// banned.
type Liar struct {
	ln        net.Listener
	ih        [20]byte
	size      int64 // the torrent's length
	pieceLen  int64
	numPieces int
	mode      LiarMode

	mu        sync.Mutex
	conns     []net.Conn
	closed    bool
	requests  []LiarRequest
	sent      map[uint32]int64 // bytes answered per piece
	firstBad  time.Time        // when a whole piece had first been answered
	connEnded []time.Time      // when each connection ended, in order of ending
}

// LiarRequest is one request a Liar received.
type LiarRequest struct {
	At                   time.Time
	Conn                 int // the connection's number, from 0 in order of acceptance
	Piece, Begin, Length uint32
}

// ListenLiar listens on addr (host:port; another loopback address such as
// 127.0.0.2 keeps it apart from peers on 127.0.0.1, as the library bans by
// IP address) for the torrent ih of size bytes in pieces of pieceLen.
func ListenLiar(addr string, ih [20]byte, size, pieceLen int64, mode LiarMode) (*Liar, error) {
	if size <= 0 || pieceLen <= 0 {
		return nil, fmt.Errorf("liar: size %d, piece length %d", size, pieceLen)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &Liar{ln: ln, ih: ih, size: size, pieceLen: pieceLen, numPieces: int((size + pieceLen - 1) / pieceLen), mode: mode, sent: map[uint32]int64{}}
	go l.accept()
	return l, nil
}

// Addr is the address the Liar listens on.
func (l *Liar) Addr() netip.AddrPort { return l.ln.Addr().(*net.TCPAddr).AddrPort() }

// Close stops listening and ends every connection.
func (l *Liar) Close() error {
	err := l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, c := range l.conns {
		c.Close()
	}
	return err
}

// LiarStats is what a Liar saw.
type LiarStats struct {
	Conns    int           // connections accepted for the torrent
	Requests []LiarRequest // every request, in order of arrival
	// FirstBadPiece is when the Liar had first answered every byte of a
	// piece (zero if it never did): from then on the downloader can know
	// that peer lied.
	FirstBadPiece time.Time
	// ConnEnded holds when each connection ended, in order.
	ConnEnded []time.Time
}

// Stats returns a copy of what the Liar saw so far.
func (l *Liar) Stats() LiarStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LiarStats{
		Conns:         len(l.conns),
		Requests:      append([]LiarRequest(nil), l.requests...),
		FirstBadPiece: l.firstBad,
		ConnEnded:     append([]time.Time(nil), l.connEnded...),
	}
}

// RequestsAfter counts the requests received after t.
func (s LiarStats) RequestsAfter(t time.Time) int {
	n := 0
	for _, r := range s.Requests {
		if r.At.After(t) {
			n++
		}
	}
	return n
}

func (l *Liar) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.serve(c)
	}
}

// serve runs one connection: the handshake, then requests until the peer
// closes it.
func (l *Liar) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	hs := make([]byte, 68)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, hs); err != nil || hs[0] != 19 || string(hs[1:20]) != "BitTorrent protocol" || !bytes.Equal(hs[28:48], l.ih[:]) {
		return
	}
	c.SetReadDeadline(time.Time{})
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	id := len(l.conns)
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.connEnded = append(l.connEnded, time.Now())
		l.mu.Unlock()
	}()

	var out bytes.Buffer
	out.WriteString("\x13BitTorrent protocol")
	out.Write(make([]byte, 8)) // no extensions: plain BEP 3
	out.Write(l.ih[:])
	fmt.Fprintf(&out, "-LI0001-%012d", time.Now().UnixNano()%1e12)
	bf := make([]byte, (l.numPieces+7)/8)
	for i := range l.numPieces {
		bf[i/8] |= 0x80 >> (i % 8)
	}
	out.Write(binary.BigEndian.AppendUint32(nil, uint32(1+len(bf))))
	out.WriteByte(5) // bitfield
	out.Write(bf)
	out.Write([]byte{0, 0, 0, 1, 1}) // unchoke
	w := bufio.NewWriter(c)
	if _, err := w.Write(out.Bytes()); err != nil || w.Flush() != nil {
		return
	}
	junk := bytes.Repeat([]byte{0xa5}, 1<<17)
	for {
		msg, err := readMessage(r)
		if err != nil {
			return
		}
		if len(msg) != 13 || msg[0] != 6 { // anything but a request: keepalive, interested, cancel...
			continue
		}
		index := binary.BigEndian.Uint32(msg[1:])
		begin := binary.BigEndian.Uint32(msg[5:])
		length := binary.BigEndian.Uint32(msg[9:])
		l.mu.Lock()
		l.requests = append(l.requests, LiarRequest{At: time.Now(), Conn: id, Piece: index, Begin: begin, Length: length})
		l.mu.Unlock()
		if l.mode == Silent || length > uint32(len(junk)) {
			continue
		}
		data := junk[:length]
		if l.mode == ShortBlocks && length > 0 {
			data = data[:length-1]
		}
		var hdr [13]byte
		binary.BigEndian.PutUint32(hdr[0:], uint32(9+len(data)))
		hdr[4] = 7 // piece
		binary.BigEndian.PutUint32(hdr[5:], index)
		binary.BigEndian.PutUint32(hdr[9:], begin)
		w.Write(hdr[:])
		w.Write(data)
		if err := w.Flush(); err != nil { // before it counts as answered
			return
		}
		l.answered(index, int64(len(data)))
	}
}

// answered counts n bytes answered for piece index, noting when a whole
// piece first was.
func (l *Liar) answered(index uint32, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[index] += n
	want := l.pieceLen
	if int(index) == l.numPieces-1 {
		want = l.size - int64(index)*l.pieceLen
	}
	if l.firstBad.IsZero() && l.sent[index] >= want {
		l.firstBad = time.Now()
	}
}
