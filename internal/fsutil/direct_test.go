package fsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// TestDirectWrite: an aligned buffer written with direct I/O, then a tail
// through the cache, reads back as written, wherever the file system
// allows direct I/O at all.
func TestDirectWrite(t *testing.T) {
	for _, n := range []int{DirectAlign, 1 << 20, 3<<20 + 5} {
		b := AlignedBuffer(n)
		if cap(b) != n || uintptr(unsafe.Pointer(unsafe.SliceData(b[:1])))%DirectAlign != 0 {
			t.Fatalf("AlignedBuffer(%d): cap %d, address not aligned", n, cap(b))
		}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := SetDirect(f, true); err != nil {
		t.Skipf("no direct I/O here: %v", err)
	}
	whole := AlignedBuffer(1 << 20)[:1<<20]
	for i := range whole {
		whole[i] = byte(i * 7)
	}
	if _, err := f.Write(whole); err != nil {
		t.Fatalf("direct write: %v", err)
	}
	if err := SetDirect(f, false); err != nil {
		t.Fatal(err)
	}
	tail := []byte("tail")
	if _, err := f.Write(tail); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(whole, tail...)) {
		t.Errorf("read back %d bytes, not what was written", len(got))
	}
}
