package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// SetDirect turns O_DIRECT on or off for f: writes then go from the
// caller's buffer to the disk without the page cache. A buffer, a length
// and a file offset must then be multiples of DirectAlign, or the write
// fails with EINVAL. An error (a file system without direct I/O, such as
// tmpfs before Linux 6.6) leaves f as it was.
func SetDirect(f *os.File, on bool) error {
	fd := f.Fd()
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(fd, unix.F_SETFL, fl)
	return err
}
