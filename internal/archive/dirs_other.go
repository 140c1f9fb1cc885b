//go:build !linux

package archive

import "golang.org/x/sys/unix"

// openat2Dir: openat2 is Linux's; the chain opens a level at a time.
func openat2Dir(parent int, rel string) (int, error) { return -1, unix.ENOSYS }
