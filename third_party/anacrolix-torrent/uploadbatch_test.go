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
// rate limiter's tokens for up to uploadBatchBytes of them at once and sends them together: at its
// turn (patch 45), and the next batch at the next turn, when the first's tokens are paid; a scarce
// seed (SuggestPieces) still reserves one chunk at a time and sends it when its tokens are due.
func TestUploadBatch(t *testing.T) {
	batch := uploadBatchBytes / (16 << 10)
	for _, tc := range []struct {
		name    string
		suggest int
		atOnce  int // chunks sent by the first upload
		due     int // chunks sent once the first reservation's tokens are paid
	}{
		{"a capped peer sends the chunks of one reservation together", 0, batch, 2 * batch},
		{"a scarce seed sends each chunk when its tokens are due", 4, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, _, p := chunksTorrent(t)
			cl.lock()
			defer cl.unlock()
			cl.config.Seed = true
			cl.config.SuggestPieces = tc.suggest
			// 16 KiB every 500 ms, the bucket empty and nothing owed
			lim := rate.NewLimiter(32<<10, 64<<10)
			lim.ReserveN(time.Now(), 64<<10)
			cl.config.UploadRateLimiter = lim
			defer func() {
				if p.uploadTimer != nil {
					p.uploadTimer.Stop()
				}
				if cl.uploadTurnTimer != nil {
					cl.uploadTurnTimer.Stop()
				}
			}()
			for i := range 4 { // the peer asked for piece 0's 4 chunks, and they were read
				readyPeerRequest(t, p, Request{Index: 0, ChunkSpec: ChunkSpec{Begin: pp.Integer(i) << 14, Length: 16 << 10}})
			}
			sent := 0
			msg := func(m pp.Message) bool {
				if m.Type == pp.Piece {
					sent++
				}
				return true
			}
			p.upload(msg)
			if sent != tc.atOnce {
				t.Fatalf("%d chunks sent at once, want %d", sent, tc.atOnce)
			}
			// Until the first reservation is paid, and less than a chunk's tokens more (450 ms
			// of slack for a busy machine).
			due := uploadOwed(lim, 0, time.Now())
			if p.uploadReservation != nil {
				due = p.uploadReservation.Delay()
			} else if tc.atOnce == 0 {
				t.Fatal("no reservation of the limiter's tokens")
			}
			if due <= 0 {
				t.Fatalf("nothing owed after the first upload (%v): the batch went beyond the cap", due)
			}
			time.Sleep(due + 50*time.Millisecond)
			p.upload(msg)
			if sent != tc.due {
				t.Fatalf("%d chunks sent once the first reservation was paid, want %d", sent, tc.due)
			}
		})
	}
}

// TestUploadShortReservation: tokens reserved for the torrent's short last chunk do not pay for a
// whole chunk that replaced it; the rest is reserved first (a connection sent 16 KiB on 11 KiB of
// tokens and stayed over its cap). A scarce seed's, whose reservations wait for their tokens: a
// capped client's connection sends at its turn (patch 45), so its reservations wait for nothing.
func TestUploadShortReservation(t *testing.T) {
	cl, _, p := chunksTorrent(t)
	cl.lock()
	defer cl.unlock()
	cl.config.Seed = true
	cl.config.SuggestPieces = 4
	// 8 KiB/s: the 5000 bytes the whole chunk needs beyond the short one's take 610 ms, the
	// slack for a busy machine between the reservation's due time and the second call.
	lim := rate.NewLimiter(8<<10, 64<<10)
	lim.ReserveN(time.Now(), 64<<10)
	cl.config.UploadRateLimiter = lim
	defer func() {
		if p.uploadTimer != nil {
			p.uploadTimer.Stop()
		}
	}()
	ready := func(r Request) { readyPeerRequest(t, p, r) }
	short := Request{Index: 2, ChunkSpec: ChunkSpec{Begin: 48 << 10, Length: 16<<10 - 5000}}
	ready(short)
	sent := 0
	msg := func(m pp.Message) bool {
		if m.Type == pp.Piece {
			sent++
		}
		return true
	}
	p.upload(msg)
	if p.uploadReservation == nil || sent != 0 {
		t.Fatalf("sent %d, reservation %v: want a reservation and nothing sent", sent, p.uploadReservation)
	}
	// The peer cancels the short chunk and asks for a whole one.
	p.deletePeerRequest(short)
	ready(Request{Index: 0, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}})
	time.Sleep(p.uploadReservation.Delay() + 50*time.Millisecond)
	p.upload(msg)
	if sent != 0 || p.uploadPrepaid < 0 {
		t.Fatalf("a 16 KiB chunk on the tokens of %d bytes: sent %d, prepaid %d", short.Length, sent, p.uploadPrepaid)
	}
	if p.uploadReservation == nil {
		t.Fatal("no reservation for the rest of the whole chunk")
	}
}

// TestUploadShortReservationAtTurn (patch 45): a capped client's connection, which sends its batch
// at its turn, keeps what a batch's unsent chunk paid for (the torrent's short last chunk, left when
// the write buffer filled, then cancelled and replaced by a whole chunk) and takes only the rest at
// its next turn: the tokens taken are the bytes sent.
func TestUploadShortReservationAtTurn(t *testing.T) {
	cl, _, p := chunksTorrent(t)
	cl.lock()
	defer cl.unlock()
	cl.config.Seed = true
	// A bucket deep enough that it does not fill up during a stall of the machine between the
	// steps (then tokens would seem taken that were only never added: a review's 300 ms pause).
	lim := rate.NewLimiter(256<<10, 4<<20)
	start := time.Now()
	lim.ReserveN(start, 4<<20) // the bucket empty, nothing owed
	cl.config.UploadRateLimiter = lim
	defer func() {
		if cl.uploadTurnTimer != nil {
			cl.uploadTurnTimer.Stop()
		}
	}()
	ready := func(r Request) { readyPeerRequest(t, p, r) }
	whole := Request{Index: 0, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}
	short := Request{Index: 2, ChunkSpec: ChunkSpec{Begin: 48 << 10, Length: 16<<10 - 5000}}
	ready(whole)
	ready(short)
	var sent []Request
	room := 1 // the write buffer takes one chunk, then is full
	msg := func(m pp.Message) bool {
		if m.Type == pp.Piece {
			sent = append(sent, Request{Index: m.Index, ChunkSpec: ChunkSpec{Begin: m.Begin, Length: pp.Integer(len(m.Piece))}})
			room--
		}
		return room > 0
	}
	p.upload(msg)
	if len(sent) != 1 || sent[0] != whole || p.uploadPrepaid != int(short.Length) {
		t.Fatalf("sent %v, prepaid %d: want the whole chunk sent at the turn and the short one's %d bytes prepaid", sent, p.uploadPrepaid, short.Length)
	}
	// The peer cancels the short chunk and asks for a whole one.
	p.deletePeerRequest(short)
	again := Request{Index: 1, ChunkSpec: ChunkSpec{Begin: 0, Length: 16 << 10}}
	ready(again)
	time.Sleep(uploadOwed(lim, 0, time.Now()) + 20*time.Millisecond) // the batch's tokens paid
	room = 1
	p.upload(msg)
	if len(sent) != 2 || sent[1] != again || p.uploadPrepaid != 0 {
		t.Fatalf("sent %v, prepaid %d: want the new whole chunk sent at the next turn, nothing left prepaid", sent, p.uploadPrepaid)
	}
	time.Sleep(300 * time.Millisecond) // a stall of the machine changes nothing
	// Tokens taken since the bucket was empty: what came in at the rate, less what is left.
	now := time.Now()
	taken := 256<<10*now.Sub(start).Seconds() - lim.TokensAt(now)
	if want := float64(2 * 16 << 10); taken < want-1024 || taken > want+1024 {
		t.Errorf("%.0f bytes of tokens taken for %.0f bytes sent", taken, want)
	}
}

// readyPeerRequest makes r a request of p's peer, sent after those p holds, whose data the request
// server has read: ready to send. p's allowance for read data is made 1 MiB (the test config's is
// 5 bytes).
func readyPeerRequest(t *testing.T, p *PeerConn, r Request) {
	t.Helper()
	if p.peerRequestDataAllocLimiter == nil || p.peerRequestDataAllocLimiter.Max < 1<<20 {
		p.peerRequestDataAllocLimiter = &alloclim.Limiter{Max: 1 << 20}
	}
	if p.peerRequests == nil {
		p.peerRequests = map[Request]*peerRequestState{}
	}
	state := &peerRequestState{seq: p.peerRequestSeq, data: make([]byte, r.Length)}
	p.peerRequestSeq++
	state.allocReservation = p.peerRequestDataAllocLimiter.Reserve(int64(r.Length))
	if err := state.allocReservation.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.peerRequests[r] = state
	p.peerRequestReadyBytes += int(r.Length)
}
