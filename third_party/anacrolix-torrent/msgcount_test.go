package torrent

import (
	"testing"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// A message written is counted once under "messages written of type ..." (write counted it, and
// wroteMsg again).
func TestMessageWrittenCountedOnce(t *testing.T) {
	_, _, p := partsConn(t, emptyStorage{}, 0)
	count := func() int64 {
		if v := messagesWritten[pp.NotInterested].v.Load(); v != nil {
			return v.Value()
		}
		return 0
	}
	before := count()
	p.write(pp.Message{Type: pp.NotInterested})
	if d := count() - before; d != 1 {
		t.Fatalf("one NotInterested written counted %d times", d)
	}
}
