package peer_protocol

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// countingConn counts the writes made to a connection.
type countingConn struct {
	net.Conn
	writes []int
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes = append(c.writes, len(b))
	return c.Conn.Write(b)
}

// distpac patch: the initiator of a handshake writes its 68 bytes at once, the receiver its
// 28-byte head and, once it knows the torrent, the other 40, and each learns the other's fields.
func TestHandshakeWrites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ih := metainfo.Hash{1, 2, 3}
	idA, idB := [20]byte{'A'}, [20]byte{'B'}
	var extA, extB PeerExtensionBits
	extA.SetBit(ExtensionBitFast, true)
	extB.SetBit(ExtensionBitLtep, true)

	type side struct {
		res  HandshakeResult
		err  error
		conn *countingConn
	}
	got := make(chan side, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- side{err: err}
			return
		}
		defer c.Close()
		cc := &countingConn{Conn: c}
		res, err := Handshake(ctx, cc, nil, idB, extB)
		got <- side{res, err, cc}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := &countingConn{Conn: c}
	resA, err := Handshake(ctx, a, &ih, idA, extA)
	if err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b.err != nil {
		t.Fatal(b.err)
	}
	if resA.PeerID != idB || resA.Hash != ih || resA.PeerExtensionBits != extB {
		t.Errorf("initiator got %+v", resA)
	}
	if b.res.PeerID != idA || b.res.Hash != ih || b.res.PeerExtensionBits != extA {
		t.Errorf("receiver got %+v", b.res)
	}
	if len(a.writes) != 1 || a.writes[0] != 68 {
		t.Errorf("initiator writes %v, want [68]", a.writes)
	}
	if len(b.conn.writes) != 2 || b.conn.writes[0] != 28 || b.conn.writes[1] != 40 {
		t.Errorf("receiver writes %v, want [28 40]", b.conn.writes)
	}
}
