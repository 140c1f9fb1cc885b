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

// ReadRegular reads a small file that must be a regular file of at most
// limit bytes: a FIFO (which blocks its reader until a writer comes), a
// device (/dev/zero reads forever), a directory or, unless followSymlink, a
// symlink is refused before it is read, and so is a file over the limit.
// The open does not block and the check is repeated on the open file, so a
// path swapped meanwhile is caught too. Errors name the path.
func ReadRegular(path string, limit int64, followSymlink bool) ([]byte, error) {
	stat := os.Lstat
	if followSymlink {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return nil, err // a *PathError, with the path
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("not a regular file (%s)", kind(fi.Mode()))}
	}
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !followSymlink {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("not a regular file (%s)", kind(fi.Mode()))}
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
