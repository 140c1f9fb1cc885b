package torrent

import (
	"bytes"
	"encoding/binary"
	"io"
	"time"

	"github.com/anacrolix/chansync"
	"github.com/anacrolix/log"
	"github.com/anacrolix/sync"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

func (pc *PeerConn) initMessageWriter() {
	w := &pc.messageWriter
	*w = peerConnMsgWriter{
		fillWriteBuffer: func() {
			pc.locker().Lock()
			defer pc.locker().Unlock()
			if pc.closed.IsSet() {
				return
			}
			pc.fillWriteBuffer()
		},
		closed: &pc.closed,
		logger: pc.logger,
		w:      pc.w,
		keepAlive: func() bool {
			pc.locker().RLock()
			defer pc.locker().RUnlock()
			return pc.useful()
		},
		writeBuffer: new(peerConnMsgWriterBuffer),
		release:     pc.t.putChunkData,
	}
	// distpac patch 36: over a raw socket (not through MSE's cipher, which writes a copy anyway)
	// a chunk's data is sent from its own buffer.
	if bw := buffersWriterOf(pc.w); bw != nil {
		w.writeBuffers = func(bufs [][]byte) (int64, error) {
			n, err := bw.WriteBuffers(bufs)
			pc.wroteBytes(n)
			return n, err
		}
	}
	if d := pc.t.cl.config.PeerWriteTimeout; d > 0 {
		w.writeTimeout = d
		w.setWriteDeadline = pc.conn.SetWriteDeadline
	}
}

// buffersWriter writes several buffers as one stream (rawSocket.WriteBuffers).
type buffersWriter interface {
	WriteBuffers([][]byte) (int64, error)
}

// buffersWriterOf is the raw socket that a peer connection's writer w writes to unchanged, or nil
// (distpac patch 36). The handshakes of an incoming connection pair its reader with its writer as
// a struct{io.Reader; io.Writer} (twice: the reader puts back the bytes it peeked), which writes
// straight through; MSE's cipher does not.
func buffersWriterOf(w io.Writer) buffersWriter {
	for {
		switch v := w.(type) {
		case struct {
			io.Reader
			io.Writer
		}:
			w = v.Writer
		case connStatsReadWriter:
			bw, _ := v.rw.(buffersWriter)
			return bw
		default:
			return nil
		}
	}
}

func (pc *PeerConn) startMessageWriter() {
	pc.initMessageWriter()
	go pc.messageWriterRunner()
}

func (pc *PeerConn) messageWriterRunner() {
	defer pc.locker().Unlock()
	defer pc.close()
	defer pc.locker().Lock()
	pc.messageWriter.run(pc.t.cl.config.KeepAliveTimeout)
}

type peerConnMsgWriterBuffer struct {
	// The number of bytes in the buffer that are part of a piece message. When
	// the whole buffer is written, we can count this many bytes.
	pieceDataBytes int
	// The messages' bytes; where the writer sends piece data from its own buffer (patch 36), a
	// piece message's header only, its data held in held.
	bytes.Buffer
	held    []heldPiece
	heldLen int
}

// heldPiece is a piece message's data, sent from its own buffer after the first at bytes of the
// write buffer's Buffer (distpac patch 36).
type heldPiece struct {
	at   int
	data []byte
}

// Len is the length of the messages buffered, held piece data included.
func (b *peerConnMsgWriterBuffer) Len() int { return b.Buffer.Len() + b.heldLen }

// Reset empties the buffer; held data is dropped, not released.
func (b *peerConnMsgWriterBuffer) Reset() {
	b.Buffer.Reset()
	clear(b.held)
	b.held = b.held[:0]
	b.heldLen = 0
	b.pieceDataBytes = 0
}

// hold buffers a piece message's header and holds its data.
func (b *peerConnMsgWriterBuffer) hold(msg pp.Message) {
	var h [13]byte
	binary.BigEndian.PutUint32(h[0:], uint32(9+len(msg.Piece)))
	h[4] = byte(pp.Piece)
	binary.BigEndian.PutUint32(h[5:], uint32(msg.Index))
	binary.BigEndian.PutUint32(h[9:], uint32(msg.Begin))
	b.Buffer.Write(h[:])
	b.held = append(b.held, heldPiece{b.Buffer.Len(), msg.Piece})
	b.heldLen += len(msg.Piece)
}

// segments appends to segs the buffer's bytes in the order they go out.
func (b *peerConnMsgWriterBuffer) segments(segs [][]byte) [][]byte {
	bs, prev := b.Buffer.Bytes(), 0
	for _, h := range b.held {
		segs = append(segs, bs[prev:h.at], h.data)
		prev = h.at
	}
	if prev < len(bs) {
		segs = append(segs, bs[prev:])
	}
	return segs
}

type peerConnMsgWriter struct {
	// Must not be called with the local mutex held, as it will call back into the write method.
	fillWriteBuffer func()
	closed          *chansync.SetOnce
	logger          log.Logger
	w               io.Writer
	keepAlive       func() bool
	// distpac patch: see ClientConfig.PeerWriteTimeout.
	writeTimeout     time.Duration
	setWriteDeadline func(time.Time) error
	// distpac patch 36: a piece message's data is the writer's from write on. It is given back
	// (release, to the chunk pools) once written or copied. With writeBuffers, the sender of the
	// socket's several buffers at once, it is held in the write buffer and sent from where it was
	// read: copying each 64 KiB chunk into the write buffer, which grew into fresh memory as it
	// did, was 5-8 % of a seeding client's CPU (bench-swarm, N=16).
	release      func([]byte)
	writeBuffers func([][]byte) (int64, error)

	mu        sync.Mutex
	writeCond chansync.BroadcastCond
	// Pointer so we can swap with the "front buffer".
	writeBuffer *peerConnMsgWriterBuffer

	totalWriteDuration    time.Duration
	totalBytesWritten     int64
	totalDataBytesWritten int64
	dataUploadRate        float64
}

// Routine that writes to the peer. Some of what to write is buffered by
// activity elsewhere in the Client, and some is determined locally when the
// connection is writable.
func (cn *peerConnMsgWriter) run(keepAliveTimeout time.Duration) {
	lastWrite := time.Now()
	keepAliveTimer := time.NewTimer(keepAliveTimeout)
	frontBuf := new(peerConnMsgWriterBuffer)
	var segs [][]byte
	for {
		if cn.closed.IsSet() {
			return
		}
		// distpac patch: take the signal before filling, not after. A broadcast (data read for a
		// request, an upload retry timer) between the fill and taking the signal woke nobody, and
		// the writer slept until its keepalive timer: capped uploads stopped for good, and with a
		// bounded read-ahead an uncapped one stalled (1 run in 40 of a 64 MiB download).
		writeCond := cn.writeCond.Signaled()
		cn.fillWriteBuffer()
		keepAlive := cn.keepAlive()
		cn.mu.Lock()
		if cn.writeBuffer.Len() == 0 && time.Since(lastWrite) >= keepAliveTimeout && keepAlive {
			cn.writeBuffer.Write(pp.Message{Keepalive: true}.MustMarshalBinary())
			torrent.Add("written keepalives", 1)
		}
		if cn.writeBuffer.Len() == 0 {
			cn.mu.Unlock()
			select {
			case <-cn.closed.Done():
			case <-writeCond:
			case <-keepAliveTimer.C:
			}
			continue
		}
		// Flip the buffers.
		frontBuf, cn.writeBuffer = cn.writeBuffer, frontBuf
		cn.mu.Unlock()
		if frontBuf.Len() == 0 {
			panic("expected non-empty front buffer")
		}
		var err error
		startedWriting := time.Now()
		startingBufLen := frontBuf.Len()
		if cn.setWriteDeadline != nil {
			cn.setWriteDeadline(time.Now().Add(cn.writeTimeout))
		}
		if cn.writeBuffers != nil {
			segs = frontBuf.segments(segs[:0])
			_, err = cn.writeBuffers(segs)
			clear(segs)
		} else {
			var n int
			n, err = cn.w.Write(frontBuf.Bytes())
			if err == nil && n != frontBuf.Buffer.Len() {
				panic("expected full write")
			}
		}
		if err != nil {
			cn.logger.WithDefaultLevel(log.Debug).Printf("error writing: %v", err)
			return
		}
		// Track what was sent and how long it took.
		writeDuration := time.Since(startedWriting)
		cn.mu.Lock()
		cn.dataUploadRate = float64(frontBuf.pieceDataBytes) / writeDuration.Seconds()
		cn.totalWriteDuration += writeDuration
		cn.totalBytesWritten += int64(startingBufLen)
		cn.totalDataBytesWritten += int64(frontBuf.pieceDataBytes)
		cn.mu.Unlock()
		for _, h := range frontBuf.held {
			cn.release(h.data)
		}
		frontBuf.Reset()
		lastWrite = time.Now()
		keepAliveTimer.Reset(keepAliveTimeout)
	}
}

func (cn *peerConnMsgWriter) writeToBuffer(msg pp.Message) (err error) {
	originalLen := cn.writeBuffer.Buffer.Len()
	defer func() {
		if err != nil {
			// Since an error occurred during buffer write, revert buffer to its original state before the write.
			cn.writeBuffer.Buffer.Truncate(originalLen)
		}
	}()
	if msg.Type == pp.Piece && cn.writeBuffers != nil && len(msg.Piece) >= minHeldPiece {
		cn.writeBuffer.hold(msg)
	} else {
		err = msg.WriteTo(cn.writeBuffer)
		if msg.Type == pp.Piece && cn.release != nil {
			cn.release(msg.Piece) // copied, or not to be sent
		}
	}
	if err == nil {
		cn.writeBuffer.pieceDataBytes += len(msg.Piece)
	}
	return
}

func (cn *peerConnMsgWriter) write(msg pp.Message) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.writeToBuffer(msg)
	cn.writeCond.Broadcast()
	return !cn.writeBufferFull()
}

// writeQuiet buffers a message without waking the writer (distpac patch): it goes out with the
// next write the connection makes for another reason.
func (cn *peerConnMsgWriter) writeQuiet(msg pp.Message) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.writeToBuffer(msg)
}

// minHeldPiece is the shortest piece data held rather than copied (patch 36): a copy of less than
// a page costs less than a buffer more in the system call, and a peer asking for hundreds of
// tiny chunks would otherwise have its data sent in hundreds of buffers.
const minHeldPiece = 4 << 10

// buffered reports whether messages wait in the write buffer, not yet taken by the writer (distpac
// patch).
func (cn *peerConnMsgWriter) buffered() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.writeBuffer.Len() != 0
}

func (cn *peerConnMsgWriter) writeBufferFull() bool {
	return cn.writeBuffer.Len() >= writeBufferHighWaterLen
}
