package fsutil

import "github.com/gofrs/flock"

// LockBusy reports whether a process holds the flock on path now. Where
// the kernel's lock table names holders (LockHolder) it is read; elsewhere
// a shared lock is tried without waiting and given back at once.
func LockBusy(path string) bool {
	if lockTableKnown {
		return LockHolder(path) > 0
	}
	fl := flock.New(path)
	ok, err := fl.TryRLock()
	if err != nil {
		return false
	}
	if ok {
		fl.Unlock()
		return false
	}
	return true
}
