package fsutil

import "unsafe"

// DirectAlign is the alignment direct I/O (SetDirect) asks of buffers,
// lengths and offsets: the page size, a multiple of every common logical
// block size (512 and 4096 bytes).
const DirectAlign = 4096

// AlignedBuffer returns a zero-length buffer of capacity n whose first byte
// is DirectAlign-aligned. Go does not move heap objects, so it stays so.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+DirectAlign)
	off := -int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) & (DirectAlign - 1)
	return b[off : off : off+n]
}
