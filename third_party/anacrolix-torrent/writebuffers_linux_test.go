package torrent

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/chansync"
	"github.com/anacrolix/log"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// WriteBuffers (patch 36) sends its buffers whole and in order, empty ones and more than one
// system call takes included, also when they exceed the socket's buffers and it must wait for the
// reader (partial writes that end inside a buffer).
func TestRawSocketWriteBuffers(t *testing.T) {
	a, b := tcpPair(t)
	w, r := rawSocketIO(a).(rawSocket), rawSocketIO(b)
	var bufs [][]byte
	var want []byte
	for i := range 3 * maxSendBuffers {
		n := []int{13, 64 << 10, 0, 1, 300 << 10, 5}[i%6]
		p := make([]byte, n)
		rand.Read(p)
		bufs = append(bufs, p)
		want = append(want, p...)
	}
	errc := make(chan error, 1)
	go func() {
		n, err := w.WriteBuffers(bufs)
		if err == nil && n != int64(len(want)) {
			err = io.ErrShortWrite
		}
		if err != nil {
			errc <- err
			return
		}
		errc <- a.CloseWrite()
	}()
	time.Sleep(20 * time.Millisecond) // the socket buffers fill before the reader starts
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, differing from the %d written", len(got), len(want))
	}
}

// The message writer (patch 36) owns a piece message's data from write on and gives it back only
// once it is sent (held, over a raw socket) or copied (any other writer): release scribbles on
// what it is given, as the pool's next taker would, and the peer still reads every chunk intact,
// between other messages and in order.
func TestMessageWriterReleasesPieceDataOnceSent(t *testing.T) {
	for _, held := range []bool{true, false} {
		t.Run(map[bool]string{true: "held", false: "copied"}[held], func(t *testing.T) {
			a, b := tcpPair(t)
			rs := rawSocketIO(a).(rawSocket)
			var closed chansync.SetOnce
			var mu sync.Mutex
			released := 0
			mw := &peerConnMsgWriter{
				fillWriteBuffer: func() {},
				closed:          &closed,
				logger:          log.Default,
				w:               rs,
				keepAlive:       func() bool { return false },
				writeBuffer:     new(peerConnMsgWriterBuffer),
				release: func(b []byte) {
					mu.Lock()
					released++
					mu.Unlock()
					clear(b)
				},
			}
			if held {
				mw.writeBuffers = rs.WriteBuffers
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				mw.run(time.Minute)
			}()
			defer func() { closed.Set(); <-done }()

			const chunks = 64
			want := make([][]byte, chunks)
			for i := range want {
				want[i] = make([]byte, 64<<10)
				rand.Read(want[i])
			}
			go func() {
				for i := range chunks {
					mw.write(pp.Message{Type: pp.Piece, Index: pp.Integer(i), Begin: 0, Piece: bytes.Clone(want[i])})
					mw.writeQuiet(pp.Message{Type: pp.Have, Index: pp.Integer(i)})
					if i%8 == 0 {
						time.Sleep(time.Millisecond) // some writes find the writer busy, some idle
					}
				}
			}()
			dec := pp.Decoder{R: bufio.NewReader(b), MaxLength: 1 << 20}
			b.SetReadDeadline(time.Now().Add(30 * time.Second))
			for i := 0; i < chunks; {
				var m pp.Message
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("after %d chunks: %v", i, err)
				}
				switch m.Type {
				case pp.Have:
				case pp.Piece:
					if int(m.Index) != i || !bytes.Equal(m.Piece, want[i]) {
						t.Fatalf("chunk %d: got index %d, data equal %v", i, m.Index, bytes.Equal(m.Piece, want[i]))
					}
					i++
				default:
					t.Fatalf("unexpected message %v", m.Type)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := released
				mu.Unlock()
				if n == chunks {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d chunks' data given back", n, chunks)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// An incoming connection that speaks plain BitTorrent sends chunks from their buffers too (patch
// 36): the receiving handshake wraps the connection's writer in reader-writer pairs, which
// buffersWriterOf sees through; a writer that changes the bytes (MSE's cipher) gets none.
func TestBuffersWriterOfIncomingConnection(t *testing.T) {
	a, b := tcpPair(t)
	raw := rawSocketIO(a)
	pc := &PeerConn{}
	pc.setRW(connStatsReadWriter{raw, pc})
	pc.r = raw // as newConnection has it, but reads not counted: pc has no torrent
	go b.Write([]byte(pp.Protocol))
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	rw, encrypted, _, err := handleEncryption(pc.rw(), nil, HeaderObfuscationPolicy{}, nil)
	if err != nil || encrypted {
		t.Fatalf("handshake: encrypted %v, %v", encrypted, err)
	}
	pc.setRW(rw)
	if got := buffersWriterOf(pc.w); got != raw.(rawSocket) {
		t.Errorf("buffersWriterOf the received connection's writer %T = %v; want its raw socket", pc.w, got)
	}
	for _, w := range []io.Writer{
		struct{ io.Writer }{connStatsReadWriter{raw, pc}}, // another wrapper: unknown, so none
		connStatsReadWriter{struct{ io.ReadWriter }{raw}, pc},
		raw, // not counted: none
	} {
		if got := buffersWriterOf(w); got != nil {
			t.Errorf("buffersWriterOf(%T) = %T; want none", w, got)
		}
	}
}

// Piece data shorter than minHeldPiece is copied into the write buffer and given back at once;
// longer data is held (patch 36).
func TestShortPieceDataCopied(t *testing.T) {
	a, _ := tcpPair(t)
	rs := rawSocketIO(a).(rawSocket)
	released := 0
	mw := &peerConnMsgWriter{
		writeBuffer:  new(peerConnMsgWriterBuffer),
		release:      func([]byte) { released++ },
		writeBuffers: rs.WriteBuffers,
	}
	mw.write(pp.Message{Type: pp.Piece, Index: 1, Piece: make([]byte, minHeldPiece-1)})
	if len(mw.writeBuffer.held) != 0 || released != 1 || mw.writeBuffer.Buffer.Len() != 13+minHeldPiece-1 {
		t.Fatalf("short piece: %d held, %d released, %d bytes buffered", len(mw.writeBuffer.held), released, mw.writeBuffer.Buffer.Len())
	}
	mw.write(pp.Message{Type: pp.Piece, Index: 2, Piece: make([]byte, minHeldPiece)})
	if len(mw.writeBuffer.held) != 1 || released != 1 || mw.writeBuffer.Len() != 2*13+2*minHeldPiece-1 {
		t.Fatalf("long piece: %d held, %d released, %d bytes buffered", len(mw.writeBuffer.held), released, mw.writeBuffer.Len())
	}
}
