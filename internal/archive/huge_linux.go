package archive

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of an x86-64 and arm64 transparent huge page.
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the whole huge pages within the n
// bytes from p (all in p's allocation) with transparent huge pages (madvise MADV_HUGEPAGE): what
// the system's setting does when it is "always", asked for where it is
// "madvise" (Debian's and Ubuntu's default). An error (a kernel without
// them) leaves small pages, as before.
func adviseHuge(p *byte, n uintptr) {
	start := uintptr(unsafe.Pointer(p))
	beg := (start + hugePage - 1) &^ (hugePage - 1)
	end := (start + n) &^ (hugePage - 1)
	if beg >= end {
		return
	}
	unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(p), beg-start)), end-beg), unix.MADV_HUGEPAGE)
}
