//go:build !linux && !darwin && !freebsd && !netbsd

package fsutil

import (
	"io/fs"
	"time"
)

// Atime is when a file was last read; this platform's stat is not read for
// it, so ok is false.
func Atime(fs.FileInfo) (at time.Time, ok bool) { return time.Time{}, false }

// Ctime is when a file last changed; this platform's stat is not read for
// it, so ok is false.
func Ctime(fs.FileInfo) (ct time.Time, ok bool) { return time.Time{}, false }
