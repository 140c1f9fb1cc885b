package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// StartWriteback asks the kernel to start writing n bytes of f from off to
// disk without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE), so
// that a long sequential write reaches the disk while it is being produced
// and the fsync at its end waits only for the tail; RocksDB's
// bytes_per_sync does the same. It promises nothing: only fsync does.
func StartWriteback(f *os.File, off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
