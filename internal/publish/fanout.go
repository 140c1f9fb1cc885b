package publish

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/distpac/distpac/internal/fsutil"
)

// chunk is one buffer of the archive on its way through the stages.
type chunk struct {
	b   []byte
	off int64 // offset of b[0] in the archive
	in  int64 // tar bytes the encoder had taken when b was handed on
	// refs counts the stages still reading b; the last returns it to the
	// pool.
	refs *atomic.Int32
}

// fanOut is the io.Writer the archive encoder writes to. It copies the
// compressed bytes into fanBufSize buffers and hands each full buffer to
// every stage, each on a goroutine of its own, so the encoder is the only
// serial stage and writing the file, SHA-256 and the piece hashes run
// beside it on other cores. The pool of fanBuffers buffers bounds memory
// and makes a slow stage slow down the encoder instead of queueing without
// end.
type fanOut struct {
	ctx    context.Context
	in     func() int64 // tar bytes taken so far (archive.Progress.In)
	free   chan []byte
	stages []chan chunk
	wg     sync.WaitGroup
	cur    []byte
	off    int64 // bytes handed on so far

	failOnce sync.Once
	failed   chan struct{} // closed with err set: a stage failed
	err      error
}

// Sizes of the pipeline: 8 buffers of 1 MiB (8 MiB in all) kept every
// stage busy on 2 cores; 1 MiB is also a multiple of every piece length
// but the largest, so piece streams can start at any buffer.
const (
	fanBufSize = 1 << 20
	fanBuffers = 8
)

// newFanOut starts one goroutine per stage. A stage's error stops the
// pipeline: Write returns it, and close reports it.
func newFanOut(ctx context.Context, in func() int64, stages ...func(chunk) error) *fanOut {
	f := &fanOut{ctx: ctx, in: in, free: make(chan []byte, fanBuffers), failed: make(chan struct{})}
	for range fanBuffers {
		f.free <- fsutil.AlignedBuffer(fanBufSize) // for direct writes (archiveFile)
	}
	for _, stage := range stages {
		ch := make(chan chunk, fanBuffers)
		f.stages = append(f.stages, ch)
		f.wg.Go(func() {
			failed := false
			for c := range ch {
				if !failed {
					if err := stage(c); err != nil {
						f.fail(err)
						failed = true // keep draining, so no buffer is lost
					}
				}
				if c.refs.Add(-1) == 0 {
					f.free <- c.b[:0]
				}
			}
		})
	}
	return f
}

func (f *fanOut) fail(err error) {
	f.failOnce.Do(func() {
		f.err = err
		close(f.failed)
	})
}

// Write copies p into the current buffer, handing on each one that fills.
func (f *fanOut) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if f.cur == nil {
			select {
			case f.cur = <-f.free:
			case <-f.failed:
				return n - len(p), f.err
			case <-f.ctx.Done():
				return n - len(p), f.ctx.Err()
			}
		}
		k := copy(f.cur[len(f.cur):cap(f.cur)], p)
		f.cur = f.cur[:len(f.cur)+k]
		p = p[k:]
		if len(f.cur) == cap(f.cur) {
			f.handOn()
		}
	}
	return n, nil
}

// handOn gives the current buffer to every stage.
func (f *fanOut) handOn() {
	c := chunk{b: f.cur, off: f.off, in: f.in(), refs: new(atomic.Int32)}
	c.refs.Store(int32(len(f.stages)))
	for _, ch := range f.stages {
		ch <- c
	}
	f.off += int64(len(f.cur))
	f.cur = nil
}

// close hands on the last, partial buffer, waits for every stage and
// returns the bytes written and the first error of a stage or of the
// context.
func (f *fanOut) close() (int64, error) {
	if len(f.cur) > 0 {
		f.handOn()
	}
	for _, ch := range f.stages {
		close(ch)
	}
	f.wg.Wait()
	select {
	case <-f.failed:
		return f.off, f.err
	default:
	}
	return f.off, errors.Join(f.ctx.Err())
}
