package fsutil

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SyncFS writes everything of the filesystem that holds dir to the disk
// and waits for it (syncfs): every file's data and every rename, in one
// call and one flush of the disk's cache. fsync of each file and each
// directory a change touched says the same, one flush each: a package
// of 1,000 files made 1,000 of them (3 ms each here, 5–30 ms on a
// spinning disk or an SD card).
func SyncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	for {
		err = unix.Syncfs(fd)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
