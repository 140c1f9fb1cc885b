package torrent

import (
	"testing"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// TestWriteBufferSizedOnce (patch 36): once a chunk of 64 KiB has gone into a connection's write
// buffer, the buffer never grows again, whatever other messages (up to a full buffer) precede the
// next chunks. Grown by appends, it grew again as soon as a chunk followed other messages.
func TestWriteBufferSizedOnce(t *testing.T) {
	chunk := make([]byte, 64<<10)
	w := peerConnMsgWriter{writeBuffer: new(peerConnMsgWriterBuffer)}
	var first int
	for i := range 12 {
		// Other messages first (a third of the rounds none, up to a full buffer), then the
		// chunk, as fillWriteBuffer adds them; the writer then takes the lot.
		for w.writeBuffer.Len() < i%3*(writeBufferHighWaterLen/2-5) {
			if err := w.writeToBuffer(pp.Message{Type: pp.Have, Index: pp.Integer(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.writeToBuffer(pp.Message{Type: pp.Piece, Index: 1, Begin: 0, Piece: chunk}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = w.writeBuffer.Cap()
		} else if c := w.writeBuffer.Cap(); c != first {
			t.Fatalf("round %d: the buffer grew from %d to %d bytes", i, first, c)
		}
		w.writeBuffer.Reset()
	}
}
