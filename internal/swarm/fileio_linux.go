package swarm

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// noPreadv2 is set when the kernel has no preadv2 (before Linux 4.6): every
// read then goes through f.ReadAt.
var noPreadv2 atomic.Bool

// readFileAt is p.f.ReadAt that takes what the page cache holds without
// entering the runtime when the file lives on a local file system (FUSE and
// network file systems refuse RWF_NOWAIT, a wasted call per read)
// (fileio.go).
func readFileAt(p payloadFile, b []byte, off int64) (int, error) {
	n := 0
	if p.local && len(b) > 0 && off >= 0 && !noPreadv2.Load() {
		_ = p.rc.Control(func(fd uintptr) {
			for n < len(b) {
				r, e := sysPreadCached(fd, b[n:], off+int64(n))
				switch {
				case e == syscall.EINTR:
					continue
				case e == syscall.ENOSYS:
					noPreadv2.Store(true)
					return
				case e != 0 || r <= 0:
					return // not cached, not supported here, an error or the end: f.ReadAt says which
				}
				n += r
			}
		})
	}
	if n == len(b) {
		return n, nil
	}
	m, err := p.f.ReadAt(b[n:], off+int64(n))
	return n + m, err
}

// writeFileAt is p.f.WriteAt that goes to the kernel directly when the
// file lives on a local file system and no recent direct writes stalled
// (fileio.go).
func writeFileAt(p payloadFile, b []byte, off int64) (int, error) {
	start := time.Now()
	if !p.local || len(b) == 0 || off < 0 || !writes.direct(start) {
		return p.f.WriteAt(b, off)
	}
	n := 0
	var errno syscall.Errno
	err := p.rc.Control(func(fd uintptr) {
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
		// The descriptor is closing: os.File gives its error.
		m, err := p.f.WriteAt(b[n:], off+int64(n))
		return n + m, err
	}
	if errno != 0 {
		return n, &os.PathError{Op: "write", Path: p.f.Name(), Err: errno}
	}
	return n, nil
}

// newPayloadFile takes f for readFileAt and writeFileAt.
func newPayloadFile(f *os.File) payloadFile {
	rc, err := f.SyscallConn()
	if err != nil {
		return payloadFile{f: f}
	}
	return payloadFile{f: f, rc: rc, local: localFS(rc)}
}

// localFS tells whether the file lives on a file system whose buffered
// writes wait for nothing but the page cache and the local disk: network
// and FUSE file systems can hold a write for as long as their server takes.
func localFS(rc syscall.RawConn) bool {
	var st unix.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC,
		unix.F2FS_SUPER_MAGIC, unix.OVERLAYFS_SUPER_MAGIC:
		return true // EXT4_SUPER_MAGIC is ext2's and ext3's too; overlayfs writes to a local upper layer
	}
	return false
}
