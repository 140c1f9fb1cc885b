package torrent

import (
	"context"
	"testing"
	"time"

	"github.com/anacrolix/torrent/internal/alloclim"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"golang.org/x/time/rate"
)

// TestUploadBatch (patch 16): a capped connection with chunks read and ready reserves the upload
// rate limiter's tokens for up to uploadBatchBytes of them at once and sends them together when
// the tokens are due; a scarce seed (SuggestPieces) still reserves and sends one chunk at a time.
func TestUploadBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		suggest int
		want    int // chunks sent once the first reservation's tokens are due
	}{
		{"a capped peer sends the chunks of one reservation together", 0, uploadBatchBytes / (16 << 10)},
		{"a scarce seed sends each chunk when its tokens are due", 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, _, p := chunksTorrent(t)
			cl.lock()
			defer cl.unlock()
			cl.config.Seed = true
			cl.config.SuggestPieces = tc.suggest
			// 16 KiB every 250 ms, the bucket empty: every chunk waits for its tokens
			lim := rate.NewLimiter(64<<10, 64<<10)
			lim.ReserveN(time.Now(), 64<<10)
			cl.config.UploadRateLimiter = lim
			defer func() {
				if p.uploadTimer != nil {
					p.uploadTimer.Stop()
				}
			}()
			p.peerRequests = map[Request]*peerRequestState{}
			p.peerRequestDataAllocLimiter = &alloclim.Limiter{Max: 1 << 20} // the test config allows 5 bytes
			for i := range 4 {                                              // the peer asked for piece 0's 4 chunks, and they were read
				r := Request{Index: 0, ChunkSpec: ChunkSpec{Begin: pp.Integer(i) << 14, Length: 16 << 10}}
				state := &peerRequestState{data: make([]byte, 16<<10)}
				state.allocReservation = p.peerRequestDataAllocLimiter.Reserve(int64(r.Length))
				if err := state.allocReservation.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
				p.peerRequests[r] = state
				p.peerRequestReadyBytes += int(r.Length)
			}
			sent := 0
			msg := func(m pp.Message) bool {
				if m.Type == pp.Piece {
					sent++
				}
				return true
			}
			p.upload(msg)
			if sent != 0 {
				t.Fatalf("%d chunks sent before their tokens were due", sent)
			}
			if p.uploadReservation == nil {
				t.Fatal("no reservation of the limiter's tokens")
			}
			// Until the reservation is due, and less than a chunk's tokens more.
			time.Sleep(p.uploadReservation.Delay() + 50*time.Millisecond)
			p.upload(msg)
			if sent != tc.want {
				t.Fatalf("%d chunks sent once the first reservation was due, want %d", sent, tc.want)
			}
		})
	}
}
