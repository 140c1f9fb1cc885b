//go:build !linux

package fsutil

// LockHolder cannot read the kernel's lock table here; callers fall back
// to what the holder wrote.
func LockHolder(path string) int { return 0 }

// lockTableKnown: LockHolder cannot tell here (LockBusy tries a lock).
const lockTableKnown = false
