//go:build unix

package stage

import (
	"os"
	"syscall"
)

// openNoFollow opens p for reading; a symlink at p is an error, not
// followed, and a FIFO put there since the walk does not block the open.
func openNoFollow(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
