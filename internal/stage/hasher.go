package stage

import (
	"hash"
	"sync"
)

// hasher hashes what is written to it on a goroutine of its own, so that
// the hash (SHA-256 runs at about 1.25 GB/s on a core here) overlaps the
// work of the goroutine that writes: Extract hashes a complete archive
// through one, beside the decompression and the writes of its files.
// Write copies into one of hasherBuffers buffers and returns; it waits
// only when all of them are queued.
type hasher struct {
	h    hash.Hash
	full chan []byte
	free chan *[hasherBuffer]byte
	bufs []*[hasherBuffer]byte
	done chan struct{}
}

const (
	hasherBuffer  = 128 << 10
	hasherBuffers = 4
)

var hasherPool = sync.Pool{New: func() any { return new([hasherBuffer]byte) }}

// newHasher starts hashing with h what is written to the hasher. Sum ends
// it; a hasher that is not summed leaks its goroutine.
func newHasher(h hash.Hash) *hasher {
	a := &hasher{h: h, full: make(chan []byte, hasherBuffers), free: make(chan *[hasherBuffer]byte, hasherBuffers), done: make(chan struct{})}
	for range hasherBuffers {
		b := hasherPool.Get().(*[hasherBuffer]byte)
		a.bufs = append(a.bufs, b)
		a.free <- b
	}
	go a.run()
	return a
}

func (a *hasher) run() {
	defer close(a.done)
	for b := range a.full {
		a.h.Write(b)
		a.free <- (*[hasherBuffer]byte)(b[:hasherBuffer:hasherBuffer])
	}
}

// Write queues a copy of p to be hashed; it never fails.
func (a *hasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		b := <-a.free
		k := copy(b[:], p)
		a.full <- b[:k]
		p = p[k:]
	}
	return n, nil
}

// Sum waits until everything written is hashed, ends the goroutine and
// appends the hash to in. The hasher is done with after it.
func (a *hasher) Sum(in []byte) []byte {
	close(a.full)
	<-a.done
	for _, b := range a.bufs {
		hasherPool.Put(b)
	}
	a.bufs = nil
	return a.h.Sum(in)
}
