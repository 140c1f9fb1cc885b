package state

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestDamagedIsNotTheDisk: a SQLite error of the environment (a full disk,
// an I/O error) is not called damage, whose advice is to move the file
// aside; an error of the content is.
func TestDamagedIsNotTheDisk(t *testing.T) {
	db := &DB{path: "/x/installed.db"}
	disk := db.damaged(fmt.Errorf("read: %w", &fs.PathError{Op: "write", Path: "/x/installed.db-shm", Err: syscall.ENOSPC}))
	var ce *CorruptError
	if errors.As(disk, &ce) || !strings.Contains(disk.Error(), "not damage to the file") || !strings.Contains(disk.Error(), "/x/installed.db") {
		t.Errorf("full disk: %v", disk)
	}
	if content := db.damaged(errors.New("no such column: x")); !errors.As(content, &ce) {
		t.Errorf("content: %v, want a CorruptError", content)
	}
}
