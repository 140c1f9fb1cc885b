package peertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// Wire is a raw connection to a peer with the extension protocol (BEP 10)
// and the fast extension (BEP 6), for messages a well-behaved peer would
// never send.
type Wire struct {
	conn net.Conn
	r    *bufio.Reader
	// MetadataID is the peer's id for ut_metadata (BEP 9), from its
	// extended handshake.
	MetadataID int
	// Handshake is the payload of the peer's extended handshake.
	Handshake []byte
}

// Dial connects to addr for the torrent ih, sends the handshakes (its
// extended handshake names ut_metadata) and reads the peer's, up to its
// extended handshake.
func Dial(ctx context.Context, addr string, ih [20]byte) (*Wire, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	w := &Wire{conn: c, r: bufio.NewReader(c)}
	fail := func(err error) (*Wire, error) {
		c.Close()
		return nil, fmt.Errorf("peer %s: %w", addr, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hs bytes.Buffer
	hs.WriteString("\x13BitTorrent protocol")
	hs.Write([]byte{0, 0, 0, 0, 0, 0x10, 0, 0x04})
	hs.Write(ih[:])
	fmt.Fprintf(&hs, "-WR0001-%012d", time.Now().UnixNano()%1e12)
	if _, err := c.Write(hs.Bytes()); err != nil {
		return fail(err)
	}
	if err := w.Send(append([]byte{20, 0}, "d1:md11:ut_metadatai1eee"...)); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(w.r, make([]byte, 68)); err != nil {
		return fail(fmt.Errorf("handshake: %w", err))
	}
	for w.MetadataID == 0 {
		msg, err := w.read()
		if err != nil {
			return fail(fmt.Errorf("waiting for the extended handshake: %w", err))
		}
		if len(msg) < 2 || msg[0] != 20 || msg[1] != 0 {
			continue
		}
		w.Handshake = msg[2:]
		if w.MetadataID = ExtensionID(w.Handshake, "ut_metadata"); w.MetadataID <= 0 || w.MetadataID > 255 {
			return fail(fmt.Errorf("extended handshake names no ut_metadata id: %q", msg[2:min(len(msg), 200)]))
		}
	}
	return w, nil
}

// ExtensionID finds the entry for name in an extended handshake's "m"
// dictionary ("11:ut_metadatai2e"); 0 when there is none. Enough for the
// engines these tests talk to, without a bencode decoder (only the engine
// packages import the library's).
func ExtensionID(payload []byte, name string) int {
	_, rest, ok := bytes.Cut(payload, fmt.Appendf(nil, "%d:%si", len(name), name))
	if !ok {
		return 0
	}
	n := 0
	for _, c := range rest {
		if c == 'e' {
			return n
		}
		if c < '0' || c > '9' || n > 1<<16 {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return 0
}

// Close ends the connection.
func (w *Wire) Close() error { return w.conn.Close() }

// HolepunchConnect is a ut_holepunch (BEP 55) "connect" to addr (IPv4),
// sent as extended message id: it asks the peer to dial addr.
func HolepunchConnect(id byte, addr netip.AddrPort) []byte {
	a := addr.Addr().As4()
	msg := []byte{20, id, 1, 0} // extended, id; connect, IPv4
	msg = append(msg, a[:]...)
	msg = binary.BigEndian.AppendUint16(msg, addr.Port())
	return binary.BigEndian.AppendUint32(msg, 0) // no error
}

// Send writes one message: its length, then msg.
func (w *Wire) Send(msg []byte) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	_, err := w.conn.Write(append(b, msg...))
	return err
}

func (w *Wire) read() ([]byte, error) { return readMessage(w.r) }

// readMessage reads one length-prefixed peer message (a keepalive is
// empty), refusing one over 1 MiB.
func readMessage(r *bufio.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	msg := make([]byte, n)
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// Closed reports whether the peer ends the connection within d, reading
// and dropping what it sends meanwhile.
func (w *Wire) Closed(d time.Duration) bool {
	w.conn.SetDeadline(time.Now().Add(d))
	for {
		if _, err := w.read(); err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
	}
}

// Hostile is one message that crashed the whole process of a peer that
// received it (third_party patch 24), built for a connection.
type Hostile struct {
	Name string
	Msg  func(w *Wire) []byte
}

// HostileMessages: BEP 52 hashes for a pieces root no file has (every v1
// torrent), with proof layers or past the end, a hash request, and BEP 9
// metadata messages for piece -1 or a piece past any metadata.
var HostileMessages = []Hostile{
	{"hashes for an unknown pieces root", func(*Wire) []byte { return hashes(22, 0, 0, 1) }},
	{"hashes with proof layers", func(*Wire) []byte { return hashes(22, 0, 3, 1) }},
	{"hashes past the end", func(*Wire) []byte { return hashes(22, 1<<31, 0, 1) }},
	{"hash request", func(*Wire) []byte { return hashes(21, 0, 0, 0) }},
	{"metadata request for piece -1", func(w *Wire) []byte { return metadata(w, "d8:msg_typei0e5:piecei-1ee") }},
	{"metadata request for a huge piece", func(w *Wire) []byte { return metadata(w, "d8:msg_typei0e5:piecei4611686018427387904ee") }},
	{"metadata data for piece -1", func(w *Wire) []byte { return metadata(w, "d8:msg_typei1e5:piecei-1e10:total_sizei16384ee") }},
}

// hashes is a BEP 52 hashes (22) or hash request (21) message: a pieces
// root, base layer 0, index, length, proof layers, then n hashes.
func hashes(typ byte, index, proofLayers uint32, n int) []byte {
	b := append([]byte{typ}, bytes.Repeat([]byte{0xab}, 32)...)
	for _, v := range []uint32{0, index, uint32(n), proofLayers} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	if typ == 22 {
		b = append(b, bytes.Repeat([]byte{0xcd}, 32*n)...)
	}
	return b
}

func metadata(w *Wire, payload string) []byte {
	return append([]byte{20, byte(w.MetadataID)}, payload...)
}
