package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ReadRegular refuses, at once and naming the path, what is not a small
// regular file: an attacker's --config /dev/zero read until the kernel
// killed the process at 23 GB, a FIFO blocked it for good, and a manifest
// symlink was read wherever it pointed.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("hello"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(file, link)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 100), 0o644)
	for _, tc := range []struct {
		name, path string
		follow     bool
		want       string // the content, or a piece of the error
		notExist   bool
	}{
		{"regular", file, false, "hello", false},
		{"symlink followed", link, true, "hello", false},
		{"symlink refused", link, false, "not a regular file (a symlink)", false},
		{"FIFO", fifo, true, "not a regular file (a FIFO)", false},
		{"device", "/dev/zero", true, "not a regular file (a device)", false},
		{"directory", dir, true, "not a regular file (a directory)", false},
		{"over the limit", big, true, "too large: 100 bytes, at most 64", false},
		{"missing", filepath.Join(dir, "none"), true, "no such file", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var data []byte
			var err error
			go func() { data, err = ReadRegular(tc.path, 64, tc.follow); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadRegular blocked")
			}
			if err == nil {
				if string(data) != tc.want {
					t.Fatalf("read %q, want %q", data, tc.want)
				}
				return
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) || errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Fatalf("error %v; want one naming %s with %q", err, tc.path, tc.want)
			}
		})
	}
}
