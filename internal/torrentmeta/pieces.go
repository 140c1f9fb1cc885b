package torrentmeta

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// class is one step of the piece length policy: archives of up to maxSize
// bytes get pieces of pieceLength.
type class struct{ maxSize, pieceLength int64 }

// classes is the piece length policy (see PieceLength for why), smallest
// first; the last class takes every size. Past 256 GiB the piece length
// doubles with the size, so that no archive has more than MaxPieces pieces:
// the catalog refuses a row of more (catalog.MaxPieces, the library keeps
// ~1.1 KB a piece), and with 4 MiB pieces at any size dist-server built a
// 300 GiB archive only to have it refused at the end.
var classes = []class{
	{64 << 20, 64 << 10},
	{512 << 20, 256 << 10},
	{4 << 30, 1 << 20},
	{MaxPieces * 4 << 20, 4 << 20},
	{MaxPieces * 8 << 20, 8 << 20},
	{MaxPieces * 16 << 20, 16 << 20},
	{MaxPieces * 32 << 20, 32 << 20},
	{math.MaxInt64, 64 << 20},
}

// MaxPieces is the most pieces PieceLength makes of an archive up to
// 4 TiB (65,536 pieces of 64 MiB, BitTorrent's largest piece length);
// catalog.MaxPieces, the bound a catalog row is held to, is the same.
const MaxPieces = 1 << 16

// classIndex is the index in cs of the class that takes size.
func classIndex(cs []class, size int64) int {
	for i, c := range cs {
		if size <= c.maxSize {
			return i
		}
	}
	return len(cs) - 1
}

// Pieces are the v1 piece hashes of one file.
type Pieces struct {
	Length int64  // piece length, PieceLength of the file's size
	Hashes []byte // SHA-1 of each piece, 20 bytes each, in order
	// Streamed counts the bytes hashed as they were written, summed over
	// the piece lengths hashed (see Forecast); Reread counts the bytes read
	// back from the file afterwards for pieces no stream had. Figures, for
	// benchmarks and tests.
	Streamed, Reread int64
}

// Forecast is what the writer of a stream knows about its final length
// while writing it. Max bounds it from above (0: no bound known); Likely is
// the writer's best guess (0: no guess).
type Forecast struct{ Max, Likely int64 }

// A PieceHasher computes the piece hashes of a file while it is being
// written, before its length, and so its piece length, is known. A SHA-1
// over a piece cannot be made from hashes of smaller pieces, so each
// candidate piece length needs a SHA-1 stream of its own over the bytes,
// and which to run is a bet. Add runs one stream, for the class of
// Forecast.Likely (held within what is still possible); without a guess,
// one for every class still possible. Finish hashes the pieces the stream
// missed (where the guess changed class on the way) by reading them back
// from the file on every core: a wrong guess costs a second read of part
// of the file, never a wrong hash.
//
// Measured by replaying the forecasts of `add` of 19 trees of this machine
// (/usr/lib/*, /usr/share/*, the Go root and module cache: 12 to 643 MiB of
// archive, 3,467 MiB in all), with the writer's guess "the rest compresses
// as what came so far" (publish):
//
//   - a stream for every class still possible hashed 2,971 MiB in vain
//     (86%; up to 64 + 512 MiB for an archive in the 1 MiB class);
//   - betting on the class of the upper bound (the input's size) hashed
//     1,307 MiB in vain and reread as much, for 12 of the 19;
//   - the ratio guess hashed 941 MiB in vain and reread as much (27%), for
//     6 of the 19: archives ending near a class boundary (60, 477 and 643
//     MiB) or whose ratio changed late; 13 needed no reread. Adding the
//     neighbouring class within 1/8 of the guess traded that for more waste
//     (1,257 MiB in vain, 722 reread), so there is one stream.
//
// On the 1 GiB input of make bench-add (archive 691 MiB, 1 MiB class) the
// guess is right from the first buffer on and nothing is reread. Two more
// SHA-1 streams over a 658 MiB archive cost 0.75 s of CPU and 0.5 s of wall
// time on two cores, which the encoder already keeps busy (4.8–5.0 s
// against 5.35–5.5 s, three runs each).
//
// Add is called from one goroutine; Finish once, after the last Add.
type PieceHasher struct {
	classes []class
	streams []*stream
	written int64
}

// stream hashes the pieces of one piece length that Add chose to hash.
type stream struct {
	pieceLength int64
	on          bool // hashing the current piece (decided at its start)
	h           hash.Hash
	hashes      [][sha1.Size]byte // by piece index, as far as the stream got
	have        []bool
}

// NewPieceHasher returns a hasher for the piece length policy of
// PieceLength.
func NewPieceHasher() *PieceHasher { return newPieceHasher(classes) }

func newPieceHasher(cs []class) *PieceHasher {
	h := &PieceHasher{classes: cs}
	for _, c := range cs {
		h.streams = append(h.streams, &stream{pieceLength: c.pieceLength, h: sha1.New()})
	}
	return h
}

// Add hashes p, the next bytes of the file, for the piece lengths f makes
// worth it.
func (h *PieceHasher) Add(p []byte, f Forecast) {
	lo := h.written + int64(len(p)) // the final length is at least this
	for i, s := range h.streams {
		s.add(p, h.written, h.want(i, lo, f))
	}
	h.written += int64(len(p))
}

// want says whether class i is worth a stream for the next bytes: it is
// still possible, and it is the guess's class when there is a guess.
func (h *PieceHasher) want(i int, lo int64, f Forecast) bool {
	c := h.classes[i]
	below := int64(-1) // the class takes sizes in (below, c.maxSize]
	if i > 0 {
		below = h.classes[i-1].maxSize
	}
	hi := f.Max
	if hi <= 0 {
		hi = math.MaxInt64
	}
	if lo > c.maxSize || hi <= below {
		return false
	}
	if f.Likely <= 0 {
		return true
	}
	return classIndex(h.classes, min(max(f.Likely, lo), hi)) == i
}

// add hashes p, which starts at offset off, when on; the decision is taken
// at each piece's start, so a stream holds only whole pieces.
func (s *stream) add(p []byte, off int64, on bool) {
	for len(p) > 0 {
		in := off % s.pieceLength
		if in == 0 {
			s.on = on
			s.h.Reset()
		}
		n := int(min(int64(len(p)), s.pieceLength-in))
		if s.on {
			s.h.Write(p[:n])
			if in+int64(n) == s.pieceLength {
				s.store(off / s.pieceLength)
			}
		}
		off += int64(n)
		p = p[n:]
	}
}

func (s *stream) store(i int64) {
	for int64(len(s.hashes)) <= i {
		s.hashes = append(s.hashes, [sha1.Size]byte{})
		s.have = append(s.have, false)
	}
	s.h.Sum(s.hashes[i][:0])
	s.have[i] = true
}

// Finish returns the pieces of the file of size bytes that r reads: those
// its stream hashed during Add, and the rest hashed from r on every core.
// A hasher that was never given bytes hashes the whole file from r. r must
// hold exactly what Add was given.
func (h *PieceHasher) Finish(ctx context.Context, r io.ReaderAt, size int64) (Pieces, error) {
	if h.written != 0 && h.written != size {
		return Pieces{}, fmt.Errorf("hash pieces: %d bytes hashed, the file has %d", h.written, size)
	}
	s := h.streams[classIndex(h.classes, size)]
	pl := s.pieceLength
	n := (size + pl - 1) / pl
	out := Pieces{Length: pl, Hashes: make([]byte, n*sha1.Size)}
	for _, st := range h.streams {
		for _, ok := range st.have {
			if ok {
				out.Streamed += st.pieceLength // whole pieces; the short last one below
			}
		}
	}
	if h.written == size && size%pl != 0 && s.on {
		s.store(n - 1) // the short last piece, hashed from its start
		out.Streamed += size % pl
	}
	var holes []int64
	for i := range n {
		if i < int64(len(s.have)) && s.have[i] {
			copy(out.Hashes[i*sha1.Size:], s.hashes[i][:])
			continue
		}
		holes = append(holes, i)
	}
	reread, err := hashPieces(ctx, r, size, pl, holes, out.Hashes)
	out.Reread = reread
	return out, err
}

// hashPieces hashes the pieces numbered in idx of the size-byte file r
// reads into hashes, on GOMAXPROCS goroutines, and returns the bytes read.
func hashPieces(ctx context.Context, r io.ReaderAt, size, pl int64, idx []int64, hashes []byte) (int64, error) {
	workers := min(runtime.GOMAXPROCS(0), len(idx))
	var next, read atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, pl)
			h := sha1.New()
			for {
				k := next.Add(1) - 1
				if k >= int64(len(idx)) || ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				i := idx[k]
				want := min(pl, size-i*pl)
				m, err := r.ReadAt(buf[:want], i*pl)
				if int64(m) != want {
					if err == nil || errors.Is(err, io.EOF) {
						err = io.ErrUnexpectedEOF
					}
					errs[w] = fmt.Errorf("hash pieces: read piece %d: %w", i, err)
					return
				}
				read.Add(want)
				h.Reset()
				h.Write(buf[:want])
				h.Sum(hashes[i*sha1.Size : i*sha1.Size : (i+1)*sha1.Size])
			}
		})
	}
	wg.Wait()
	return read.Load(), errors.Join(errs...)
}
