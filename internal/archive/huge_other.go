//go:build !linux

package archive

// adviseHuge does nothing where there is no madvise(MADV_HUGEPAGE).
func adviseHuge(p *byte, n uintptr) {}
