package archive

import (
	"bytes"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// frameSize is the tar stream length of one zstd frame of a large archive.
// A tar stream up to this long is one frame, as it always was (the archives
// pinned in publish's tests are); a longer one is cut every frameSize bytes
// into independent frames, compressed side by side on frameWorkers
// goroutines and written in order. Any zstd decoder reads concatenated
// frames as one stream (RFC 8878 §3.1), and the cut points depend only on
// the tar stream, so the archive is still the same bytes for the same tree.
//
// One zstd frame is one match finder, a serial stage that ran at 250–300
// MB/s here: dist-server add of 1 GiB could not beat 4 s whatever else it
// overlapped. Cost of the cut, measured on two inputs: a tar of Go's own
// tree (245 MB, source and binaries) grew 0.56 % at 8 MiB (0.41 % at
// 16 MiB, 0.04 % at 32 MiB), the mixed input of make bench-add not at all;
// two goroutines compressed either in 0.47–0.51 s where one took
// 0.91–0.96 s. The size is memory: add of 1 GiB peaked at 171 MiB with
// 16 MiB frames, 106–109 MiB with 8 MiB frames (and an encoder history
// of 8 MiB, newEncoder); its bound is 128 MiB.
const frameSize = 8 << 20

// frameWorkers is how many frames are compressed at once: two, or one on
// one core. The pools hold workers+1 inputs and outputs of a frame each
// and every worker an encoder of about 9 MiB: 66 MiB with two, and a third
// would take add of 1 GiB past its 128 MiB (it peaked at 106–109 MiB when
// this was measured; 103 MiB with the 8 MiB window and 107 MiB with the
// 4 MiB one in runs of make bench-add on 2026-12-04). On
// two cores the hashers and the file writer need the rest anyway.
func frameWorkers() int { return min(runtime.GOMAXPROCS(0), 2) }

// newEncoder is the one encoder configuration of every archive. Its
// window is 4 MiB (archiveWindowLog), not SpeedDefault's 8 MiB: a decoder
// keeps a ring of the window and two blocks, and every install of an
// archive over 4 MiB touches every page of it for the first time (a first
// touch is 12 µs here). In dist-bench's swarm rows (16 MiB package, four
// alternations) the installs' CPU at N=16 was 2.4-2.8 s against 2.8-3.3 s
// with the 8 MiB window, and 5.4-6.2 s against 5.9-8.1 s at N=32 (the
// rows' whole CPU 18.6-20.7 against 18.0-23.8 s). What it costs in size
// is matches between 4 and 8 MiB back: a tar of Go's source and tools
// (204 MB, 8 MiB frames) grew 0.02 % (a 2 MiB window: 0.58 %); the mixed
// input of make bench-add not at all.
//
// The encoder keeps a history of twice the window, 8 MiB as before: an
// 8 MiB frame fills it exactly and Reset empties it, so nothing is ever
// moved. WithLowerEncoderMem would keep the window and one block, and move
// 4 MiB down for each of the last 31 blocks of every frame. Three runs of
// make bench-add (1 GiB) beside the 8 MiB window's add each time: with
// that option 5.3-6.1 s against 4.0-4.8 s; without it 4.2-5.1 s against
// 4.5-5.2 s (peak RSS 107 against 103 MiB). Either way the bytes are the
// same (the Go tree above, the pinned archives).
func newEncoder(w io.Writer, concurrency int) (*zstd.Encoder, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithWindowSize(1<<archiveWindowLog),
		zstd.WithEncoderConcurrency(concurrency),
	)
}

// frameWriter is the io.Writer of a tar stream longer than one frame. It
// copies the stream into frame-sized buffers; each full buffer becomes a
// job that a worker compresses, with an encoder of its own, into an output
// buffer, and one goroutine writes the jobs' output to w in the order of
// the stream. Buffers come from bounded pools, made as needed: at most
// workers+1 inputs (the workers' and the one being filled) and as many
// outputs. A job takes its output buffer when it is handed on, so the
// workers never wait for one (a worker waiting while later frames held
// every buffer would wait for ever), and a slow w makes Write wait.
type frameWriter struct {
	w     io.Writer
	size  int       // tar bytes per frame
	prog  *Progress // nil, or what to count the written frames' tar bytes in
	cur   []byte    // the frame being filled
	jobs  chan *frameJob
	order chan *frameJob
	ins   *pool[[]byte]
	outs  *pool[*bytes.Buffer]
	wg    sync.WaitGroup // the workers
	done  chan struct{}  // closed when the output goroutine has ended

	mu  sync.Mutex
	err error // the first error of a worker or of w
}

type frameJob struct {
	in    []byte
	out   *bytes.Buffer
	err   error
	ready chan struct{} // closed when out holds the frame (or err is set)
}

// pool hands out at most n buffers, made by mk the first time each is
// needed.
type pool[T any] struct {
	free chan T
	made chan struct{} // one token per buffer still to make
	mk   func() T
}

func newPool[T any](n int, mk func() T) *pool[T] {
	p := &pool[T]{free: make(chan T, n), made: make(chan struct{}, n), mk: mk}
	for range n {
		p.made <- struct{}{}
	}
	return p
}

func (p *pool[T]) get() T {
	select {
	case b := <-p.free:
		return b
	default:
	}
	select {
	case b := <-p.free:
		return b
	case <-p.made:
		return p.mk()
	}
}

func (p *pool[T]) put(b T) { p.free <- b }

func newFrameWriter(w io.Writer, size, workers int, prog *Progress) (*frameWriter, error) {
	f := &frameWriter{
		w:     w,
		size:  size,
		prog:  prog,
		jobs:  make(chan *frameJob, workers),
		order: make(chan *frameJob, workers+1),
		ins:   newPool(workers+1, func() []byte { return make([]byte, 0, size) }),
		outs: newPool(workers+1, func() *bytes.Buffer {
			// Room for a frame zstd cannot shrink: 3 bytes a block and
			// the frame's header and checksum.
			b := new(bytes.Buffer)
			b.Grow(size + size>>10 + 64<<10)
			return b
		}),
		done: make(chan struct{}),
	}
	encs := make([]*zstd.Encoder, workers)
	for i := range encs {
		var err error
		if encs[i], err = newEncoder(nil, 1); err != nil {
			return nil, err
		}
	}
	for _, enc := range encs {
		f.wg.Go(func() { f.compress(enc) })
	}
	go f.output()
	return f, nil
}

// Write copies p into frames, handing on each that fills. It returns the
// first error of a worker or of w, if any has happened.
func (f *frameWriter) Write(p []byte) (int, error) {
	if err := f.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if f.cur == nil {
			f.cur = f.ins.get()[:0]
		}
		k := copy(f.cur[len(f.cur):f.size], p)
		f.cur = f.cur[:len(f.cur)+k]
		p = p[k:]
		if len(f.cur) == f.size {
			f.handOn()
		}
	}
	return n, nil
}

func (f *frameWriter) handOn() {
	j := &frameJob{in: f.cur, out: f.outs.get(), ready: make(chan struct{})}
	j.out.Reset()
	f.cur = nil
	f.order <- j // first: the output goroutine must know every job's place
	f.jobs <- j
}

// Close compresses the last frame, waits for every frame to be written and
// returns the first error.
func (f *frameWriter) Close() error {
	if len(f.cur) > 0 {
		f.handOn()
	}
	close(f.jobs)
	close(f.order)
	f.wg.Wait()
	<-f.done
	return f.failed()
}

func (f *frameWriter) compress(enc *zstd.Encoder) {
	for j := range f.jobs {
		if f.failed() == nil { // after a failure, only hand the buffers on
			enc.Reset(j.out)
			_, j.err = enc.Write(j.in)
			if err := enc.Close(); j.err == nil {
				j.err = err
			}
		}
		f.ins.put(j.in)
		close(j.ready)
	}
}

// output writes the frames in order. It counts a frame's tar bytes into
// prog as its compressed bytes go out, in proportion, so that what prog
// says is taken but not yet written is never more than the bytes still to
// come (publish bounds the archive's final size with it).
func (f *frameWriter) output() {
	defer close(f.done)
	var start int64 // tar offset of the frame being written
	for j := range f.order {
		<-j.ready
		err := j.err
		if err == nil && f.failed() == nil {
			err = f.writeFrame(j, start)
		}
		if err != nil {
			f.fail(err)
		}
		start += int64(len(j.in))
		f.outs.put(j.out)
	}
}

// outputStep is how much of a frame's output goes to w per Write.
const outputStep = 1 << 20

func (f *frameWriter) writeFrame(j *frameJob, start int64) error {
	b := j.out.Bytes()
	for off := 0; off < len(b); {
		k := min(outputStep, len(b)-off)
		if _, err := f.w.Write(b[off : off+k]); err != nil {
			return err
		}
		off += k
		if f.prog != nil {
			f.prog.in.Store(start + int64(len(j.in))*int64(off)/int64(len(b)))
		}
	}
	return nil
}

func (f *frameWriter) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *frameWriter) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
