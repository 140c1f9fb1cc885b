package peer_protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// distpac patch 23: messages are written byte for byte as BEP 3 has them, and read back, with
// no allocation for a message of integers either way; a stream cut inside an integer is
// io.ErrUnexpectedEOF, as io.ReadFull said before.
func TestMessageIntegersWithoutAllocations(t *testing.T) {
	msgs := []struct {
		m    Message
		wire []byte
	}{
		{Message{Type: Have, Index: 0x01020304}, []byte{0, 0, 0, 5, 4, 1, 2, 3, 4}},
		{Message{Type: Request, Index: 7, Begin: 0x4000, Length: 0x4000},
			[]byte{0, 0, 0, 13, 6, 0, 0, 0, 7, 0, 0, 0x40, 0, 0, 0, 0x40, 0}},
		{Message{Type: Cancel, Index: 0xfffffffe, Begin: 1, Length: 2},
			[]byte{0, 0, 0, 13, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0, 0, 0, 2}},
		{Message{Type: Piece, Index: 2, Begin: 3, Piece: []byte("xyz")},
			[]byte{0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0, 3, 'x', 'y', 'z'}},
		{Message{Keepalive: true}, []byte{0, 0, 0, 0}},
	}
	var stream bytes.Buffer
	for _, c := range msgs {
		var b bytes.Buffer
		if err := c.m.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), c.wire) {
			t.Errorf("%v written as % x, want % x", c.m.Type, b.Bytes(), c.wire)
		}
		stream.Write(c.wire)
	}
	d := Decoder{R: bufio.NewReader(bytes.NewReader(stream.Bytes())), MaxLength: 1 << 20}
	for _, c := range msgs {
		var m Message
		if err := d.Decode(&m); err != nil {
			t.Fatalf("decoding %v: %v", c.m.Type, err)
		}
		if m.Type != c.m.Type || m.Index != c.m.Index || m.Begin != c.m.Begin || m.Length != c.m.Length ||
			!bytes.Equal(m.Piece, c.m.Piece) || m.Keepalive != c.m.Keepalive {
			t.Errorf("decoded %+v, want %+v", m, c.m)
		}
	}

	req := msgs[1].m
	var out bytes.Buffer
	out.Grow(64)
	if n := testing.AllocsPerRun(100, func() {
		out.Reset()
		req.WriteTo(&out)
	}); n != 0 {
		t.Errorf("writing a request: %v allocations, want 0", n)
	}
	var r bytes.Reader
	d = Decoder{R: bufio.NewReader(&r), MaxLength: 1 << 20}
	var got Message // the read loop's message lives on as well
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(msgs[1].wire)
		got = Message{}
		if err := d.Decode(&got); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("decoding a request: %v allocations, want 0", n)
	}

	for cut := 1; cut < len(msgs[1].wire); cut++ {
		d := Decoder{R: bufio.NewReader(bytes.NewReader(msgs[1].wire[:cut])), MaxLength: 1 << 20}
		var m Message
		err := d.Decode(&m)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("request cut after %d bytes: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	d = Decoder{R: bufio.NewReader(bytes.NewReader(nil)), MaxLength: 1 << 20}
	var m Message
	if err := d.Decode(&m); !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
}
