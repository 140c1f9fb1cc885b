//go:build !linux

package fsutil

import (
	"fmt"
	"os"
	"syscall"
)

// SyncFS asks for everything written to reach the disk where syncfs does
// not exist: sync(2), which on the BSDs and macOS may return before the
// writes end. dir must exist.
func SyncFS(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	syscall.Sync()
	return nil
}
