// Package fsutil writes files safely: temp file, fsync, rename, fsync the
// directory, so a crash leaves either the old or the new file, never half.
package fsutil

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic replaces path with data.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic replaces path with what write produces. On any error the old
// file (if any) is untouched and the temp file is removed.
func WriteAtomic(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename in it survives a crash.
func SyncDir(dir string) error { return Sync(dir) }

// Sync fsyncs the regular file or directory at path; a symlink there is
// followed (a directory a change moved things into may be the user's
// symlink to one: lib64 -> lib). O_NONBLOCK: a FIFO put at path meanwhile
// must not hold the open. The error names path.
func Sync(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Device is the filesystem that holds path (following a symlink there);
// false when it cannot be told.
func Device(path string) (uint64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), true // Dev is an int32 on macOS
	}
	return 0, false
}
