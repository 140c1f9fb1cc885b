//go:build linux || darwin || freebsd || netbsd

package fsutil

import (
	"io/fs"
	"syscall"
	"time"
)

// Atime is when a file was last read, as its file system recorded it
// (relatime and noatime mounts record it late or never); ok is false where
// the platform's stat gives none.
func Atime(fi fs.FileInfo) (at time.Time, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	ts := atimespec(st)
	return time.Unix(ts.Unix()), true
}

// Ctime is when a file's data or metadata last changed, as the kernel
// recorded it: unlike the mtime, no program can set it back (cp -p,
// rsync -t and restores from a backup put the mtime back). ok is false
// where the platform's stat gives none.
func Ctime(fi fs.FileInfo) (ct time.Time, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	ts := ctimespec(st)
	return time.Unix(ts.Unix()), true
}
