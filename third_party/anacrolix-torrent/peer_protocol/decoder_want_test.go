package peer_protocol

import (
	"bufio"
	"bytes"
	"testing"
)

// distpac patch: Want is told how many bytes of each message are not yet buffered, before it is
// read; a message already whole in the buffer, or a keepalive, tells it nothing.
func TestDecoderWant(t *testing.T) {
	var stream bytes.Buffer
	enc := func(m Message) {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		stream.Write(b)
	}
	enc(Message{Type: Have, Index: 3})
	enc(Message{Type: Piece, Index: 1, Begin: 0, Piece: make([]byte, 16384)})
	stream.Write([]byte{0, 0, 0, 0}) // keepalive
	var told []int
	d := Decoder{
		R:         bufio.NewReaderSize(&stream, 4096),
		MaxLength: 1 << 20,
		Want:      func(n int) { told = append(told, n) },
	}
	for range 3 {
		var m Message
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
	}
	// The first fill reads 4096 bytes: the HAVE (4+5 bytes) and the piece message's 4-byte length,
	// leaving 4083 of its 9+16384 bytes buffered.
	if want := 9 + 16384 - (4096 - 9 - 4); len(told) != 1 || told[0] != want {
		t.Fatalf("Want was told %v; want [%d]", told, want)
	}
}
