package archive

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Warm readies a zstd decoder for an archive of about size tar bytes while
// the caller has nothing else to do (an install waiting for its download,
// when no archive is being unpacked as it arrives), and keeps it for the
// next Extract.
//
// A decoder keeps the stream's last window in a ring of the window (4 MiB,
// newEncoder) and two blocks, written as the archive is decoded; every
// page of it is touched for the first time during the first archive of
// 4 MiB or more, and a first touch costs 9.5–12 µs on this machine
// (dist-bench prints it). With the 8 MiB window archives had before,
// decoding a 16 MiB package spent 21 ms of its 125 ms of CPU faulting the
// ring in (2,100 of its 4,280 page faults). In a swarm every client's
// download ends within a second of the others', and their extractions share
// the cores then: that time is in everyone's install. Warm decodes a frame
// of zero-filled blocks as long as the archive (up to the ring), which
// touches the same pages, before the download ends.
//
// An archive an older dist-server published with the 8 MiB window needs
// a ring of 8.25 MiB: its extraction makes one and drops the warm one
// (correct, but the faults are taken during the extraction again, and for
// a while both rings are held). That lasts until its packages are
// published again.
//
// A warm decoder not yet taken stays until the process ends. Extract waits
// for a Warm under way rather than make a second decoder: the wait is the
// page faults it would take itself, and a second decoder would leave the
// first's ring unused.
func Warm(size int64) {
	n := min(size, warmMax)
	if n < warmMin { // warmMin > 0: the frame has a block
		return
	}
	warm.mu.Lock()
	defer warm.mu.Unlock()
	if warm.d != nil {
		return
	}
	d, err := zstd.NewReader(nil, decoderOptions...)
	if err != nil {
		return
	}
	if n >= hugeFrom {
		adviseRing(d)
	}
	if err := d.Reset(bytes.NewReader(zeroFrame(n))); err != nil {
		d.Close()
		return
	}
	if _, err := io.Copy(io.Discard, d); err != nil {
		d.Close()
		return
	}
	warm.d = d
}

var warm struct {
	mu sync.Mutex
	d  *zstd.Decoder
}

// takeWarm returns the decoder Warm made (waiting for one under way), or
// nil.
func takeWarm() *zstd.Decoder {
	warm.mu.Lock()
	defer warm.mu.Unlock()
	d := warm.d
	warm.d = nil
	return d
}

const (
	// archiveWindowLog is the window of every archive, 4 MiB, set by
	// newEncoder (TestArchiveWindow holds it).
	archiveWindowLog = 22
	// warmMax is the decoder's ring for that window: the window and two
	// blocks with the decoder's overrun. Warming more touches nothing new.
	warmMax = 1<<archiveWindowLog + 2*(128<<10+32)
	// warmMin: a smaller archive touches little of the ring.
	warmMin = 1 << 20
	// rleBlock is the largest block the format allows.
	rleBlock = 128 << 10
)

// zeroFrame is a zstd frame (RFC 8878 §3.1.1) of n zero bytes in RLE
// blocks, declaring the archives' window: about 4 bytes per 128 KiB.
func zeroFrame(n int64) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528) // magic
	// Frame header descriptor 0 (no content size, no checksum, no
	// dictionary, not single segment); window descriptor: exponent
	// windowLog-10, mantissa 0.
	b = append(b, 0, (archiveWindowLog-10)<<3)
	for n > 0 {
		size := min(n, rleBlock)
		n -= size
		last := uint32(0)
		if n == 0 {
			last = 1
		}
		// Block header: last flag, type 1 (RLE), size; then the byte.
		h := last | 1<<1 | uint32(size)<<3
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	return b
}

// newDecoder returns a zstd reader of r with bounded memory and no
// goroutines: the one Warm made if there is one, else one of the pool,
// else a new one. size is about how many bytes the stream decodes to (0:
// unknown); from hugeFrom on, a decoder Warm did not make has its ring
// advised huge first (adviseRing). (Decoding ahead on a goroutine of its
// own saved 20 ms of 136 extracting 10,000 files of 1 KiB on two cores,
// and cost 5 ms once the writers below took the second core.)
func newDecoder(r io.Reader, size int64) (*zstd.Decoder, error) {
	d := takeWarm()
	if d == nil {
		d, _ = decoders.Get().(*zstd.Decoder)
		if d == nil {
			var err error
			if d, err = zstd.NewReader(nil, decoderOptions...); err != nil {
				return nil, err
			}
		}
		if size >= hugeFrom {
			adviseRing(d)
		}
	}
	if err := d.Reset(r); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// hugeFrom is the decoded size from which a decoder's ring is advised
// huge: a stream this long writes all of the ring, so a huge page costs
// no memory that small pages would not.
const hugeFrom = warmMax

// adviseRing makes d's history ring for the archives' window and asks the
// kernel to back it with transparent huge pages (Linux; elsewhere
// nothing), before anything but its first bytes is written. A page's
// first touch costs 9.5–12 µs in this virtual machine: faulting in the
// 4.26 MiB ring page by page was 1,050 of the 2,850 page faults of an
// install of a 16 MiB package, and 2 MiB pages take a fault each. The
// ring is the decoder's, out of reach, but the decoder hands out what it
// decodes as slices of it: the first block of a new frame is at its
// start. So adviseRing decodes a frame of one byte declaring the window,
// and advises the whole 2 MiB pages within warmMax of where that byte is;
// the next frame of the same window reuses the ring. An install of that
// package, five fresh clients each, interleaved twice: 2,320-2,370 page
// faults against 2,800-2,900, 108-120 ms of CPU against 110-145 (medians
// 110 and 119); the ring starts anywhere in a 2 MiB page, so one or two
// of them fit in it. In bench-swarm N=32 rows the installs took 5.0-5.2 s
// of CPU against 5.6-6.1 s (docs/BENCHMARKS.md).
func adviseRing(d *zstd.Decoder) {
	if d.Reset(bytes.NewReader(zeroFrame(1))) != nil {
		return
	}
	d.WriteTo(ringAdviser{})
}

// ringAdviser advises huge the ring the first slice it is given starts.
type ringAdviser struct{}

func (ringAdviser) Write(p []byte) (int, error) {
	if len(p) > 0 {
		adviseHuge(&p[0], warmMax)
	}
	return len(p), nil
}

// decoderMaxMemory caps what the zstd decoder may allocate for its window
// and buffers, whatever a frame header asks for.
const decoderMaxMemory = 256 << 20

var decoderOptions = []zstd.DOption{
	zstd.WithDecoderConcurrency(1),
	zstd.WithDecoderMaxMemory(decoderMaxMemory),
}

// decoders keeps zstd decoders between archives. A decoder's history and
// block buffers are about 160 KiB, made anew for every archive otherwise:
// in a heap profile of an install of 1,000 small packages (bench -many)
// they were 160 MB of the install's 583 MB allocated.
var decoders sync.Pool

// releaseDecoder gives d back to decoders, holding no reference to the
// stream it read.
func releaseDecoder(d *zstd.Decoder) {
	if d.Reset(nil) != nil {
		d.Close()
		return
	}
	decoders.Put(d)
}
