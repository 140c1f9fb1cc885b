package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Space is the free space of one file system.
type Space struct {
	Dev  uint64 // the device of the directory asked about
	Free int64  // bytes an unprivileged user may still write
	Path string // the directory asked about
}

// StatSpace reports the file system holding dir, or its nearest existing
// parent.
func StatSpace(dir string) (Space, error) {
	p := dir
	for {
		var fs syscall.Statfs_t
		err := syscall.Statfs(p, &fs)
		if err == nil {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				return Space{}, fmt.Errorf("free space of %s: %w", dir, err)
			}
			return Space{Dev: uint64(st.Dev), Free: int64(fs.Bavail) * int64(fs.Bsize), Path: dir}, nil
		}
		if !errors.Is(err, syscall.ENOENT) || p == filepath.Dir(p) {
			return Space{}, fmt.Errorf("free space of %s: %w", dir, err)
		}
		p = filepath.Dir(p)
	}
}

// Allocated is the space path takes on its disk (its blocks, not its
// length: a download's file is sparse until its pieces are written), 0
// when it does not exist.
func Allocated(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return AllocatedOf(fi)
}

// AllocatedOf is Allocated of a file already stat'ed; 0 where the system
// does not say.
func AllocatedOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return 0
}

// Freed is the space removing the file fi describes gives back: its
// allocated blocks when they are fewer than its length (a sparse file: an
// interrupted download's .part holds only the pieces it got), its length
// otherwise. A full file's blocks round its length up to a block; its
// length is what a user knows it by (ls, the catalog's sizes).
func Freed(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return min(fi.Size(), int64(st.Blocks)*512)
	}
	return fi.Size()
}
