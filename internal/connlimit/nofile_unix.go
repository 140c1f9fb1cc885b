//go:build unix

package connlimit

import "syscall"

// OpenFileLimit is the process's soft limit on open descriptors (the Go
// runtime raises it to the hard limit at start), or 0 when unknown.
func OpenFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}
