package swarm

import (
	"os"

	"golang.org/x/sys/unix"
)

// punchHole frees n bytes of f from off (fallocate(2), Linux 2.6.38; ext4,
// XFS, Btrfs and tmpfs have it).
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
