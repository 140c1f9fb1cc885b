package swarm

import (
	"os"
	"syscall"
	"time"
)

// readFileAt is f.ReadAt that takes what the page cache holds without
// entering the runtime (fileio.go).
func readFileAt(f *os.File, b []byte, off int64) (int, error) {
	n := 0
	if len(b) > 0 {
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				for n < len(b) {
					r, e := sysPreadCached(fd, b[n:], off+int64(n))
					if e == syscall.EINTR {
						continue
					}
					if e != 0 || r <= 0 {
						return // not cached, not supported, an error or the end: f.ReadAt says which
					}
					n += r
				}
			})
		}
	}
	if n == len(b) {
		return n, nil
	}
	m, err := f.ReadAt(b[n:], off+int64(n))
	return n + m, err
}

// writeFileAt is f.WriteAt that goes to the kernel directly unless a
// recent direct write stalled (fileio.go).
func writeFileAt(f *os.File, b []byte, off int64) (int, error) {
	start := time.Now()
	if len(b) == 0 || !writes.direct(start) {
		return f.WriteAt(b, off)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return f.WriteAt(b, off)
	}
	n := 0
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		for n < len(b) && errno == 0 {
			r, e := sysPwrite(fd, b[n:], off+int64(n))
			switch {
			case e == syscall.EINTR:
			case e != 0:
				errno = e
			case r <= 0:
				errno = syscall.EIO // pwrite(2) writes at least a byte or fails
			default:
				n += r
			}
		}
	})
	writes.took(time.Now(), time.Since(start))
	if err != nil {
		return n, err
	}
	if errno != 0 {
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: errno}
	}
	return n, nil
}
