package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrTooLarge marks a file over ReadRegular's limit.
var ErrTooLarge = errors.New("too large")

// ErrNotRegular marks a path that is not a regular file (OpenRegular,
// ReadRegular).
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens a regular file for reading: a FIFO (which blocks its
// opener until a writer comes, deaf to Ctrl-C: an attacker's run hung a
// dozen commands on state files made FIFOs), a device, a directory or,
// unless followSymlink, a symlink is refused, with the path and what it
// is. The open itself does not block, and the check is on the open file,
// so a path swapped meanwhile is caught too.
func OpenRegular(path string, followSymlink bool) (*os.File, error) {
	// Looked at first, so that a device is refused before it is opened
	// (opening one can act: a tape rewinds, a terminal can become the
	// opener's); then checked again on the open file.
	stat := os.Lstat
	if followSymlink {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return nil, err // a *PathError, with the path
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	flags := os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	if !followSymlink {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		if !followSymlink && errors.Is(err, syscall.ELOOP) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (a symlink)", ErrNotRegular)}
		}
		return nil, err // a *PathError, with the path
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	return f, nil
}

// NotRegular says, as OpenRegular would, when something other than a
// regular file is at path (not following a symlink); nil when a regular
// file or nothing is. For a lock file, which flock opens itself: a FIFO
// there blocked the lock's open for ever.
func NotRegular(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().IsRegular() {
		return nil
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
}

// ReadRegular reads a small file that must be a regular file of at most
// limit bytes (OpenRegular), and refuses a file over the limit. Errors name
// the path.
func ReadRegular(path string, limit int64, followSymlink bool) ([]byte, error) {
	f, err := OpenRegular(path, followSymlink)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, fi.Size(), limit)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)}
	}
	return data, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
