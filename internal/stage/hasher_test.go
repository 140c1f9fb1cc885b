package stage

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"runtime"
	"testing"
	"time"
)

// A hasher's sum is that of everything written, in order, whatever the
// sizes of the writes, and Sum ends its goroutine.
func TestHasher(t *testing.T) {
	data := make([]byte, 3*hasherBuffer*hasherBuffers+5)
	rand.New(rand.NewSource(7)).Read(data)
	before := runtime.NumGoroutine()
	for _, size := range []int{0, 1, hasherBuffer - 1, hasherBuffer, hasherBuffer + 1, len(data)} {
		for _, chunk := range []int{1 << 10, hasherBuffer, 3*hasherBuffer + 7, len(data)} {
			h := newHasher(sha256.New())
			for p := data[:size]; len(p) > 0; {
				n := min(len(p), chunk)
				if k, err := h.Write(p[:n]); k != n || err != nil {
					t.Fatalf("Write: %d, %v; want %d", k, err, n)
				}
				p = p[n:]
			}
			want := sha256.Sum256(data[:size])
			if got := h.Sum([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want[:]...)) {
				t.Errorf("%d bytes in writes of %d: sum %x, want %x", size, chunk, got, want)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after every Sum, %d before", n, before)
	}
}

// A writer's buffer may change as soon as Write returns: the hasher hashes
// its own copy.
func TestHasherCopies(t *testing.T) {
	h := newHasher(sha256.New())
	buf := bytes.Repeat([]byte{'a'}, 1000)
	h.Write(buf)
	for i := range buf {
		buf[i] = 'b'
	}
	want := sha256.Sum256(bytes.Repeat([]byte{'a'}, 1000))
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Errorf("sum %x, want that of the bytes as written", got)
	}
}
