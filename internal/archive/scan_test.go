package archive

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestScanSampleTree(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sampleTree())
	got, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Path: "assets", Mode: fs.ModeDir | 0o755},
		{Path: "assets/a-b", Mode: 0o644, Size: 23},
		{Path: "assets/bin", Mode: fs.ModeDir | 0o755},
		{Path: "assets/bin/foo", Mode: fs.ModeSymlink | 0o777, Linkname: "../lib/libfoo.so.1"},
		{Path: "assets/empty", Mode: fs.ModeDir | 0o755},
		{Path: "assets/lib", Mode: fs.ModeDir | 0o755},
		{Path: "assets/lib/libfoo.so", Mode: fs.ModeSymlink | 0o777, Linkname: "libfoo.so.1"},
		{Path: "assets/lib/libfoo.so.1", Mode: 0o755, Size: 3000},
		{Path: "assets/long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-long-name-", Mode: 0o644, Size: 3},
		{Path: "assets/zero", Mode: 0o644},
		{Path: "assets/ünïcödé.txt", Mode: 0o644, Size: 5},
		{Path: "data-link", Mode: fs.ModeSymlink | 0o777, Linkname: "assets/lib"},
		{Path: "manifest.yaml", Mode: 0o644, Size: 25},
		{Path: "scripts", Mode: fs.ModeDir | 0o755},
		{Path: "scripts/install.sh", Mode: 0o755, Size: 25},
		{Path: "scripts/uninstall.sh", Mode: 0o755, Size: 17},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Scan:\n got %+v\nwant %+v", got, want)
	}
}

func TestScanByteOrder(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []node{
		{path: "a/c", perm: 0o644},
		{path: "a-b", perm: 0o644},
		{path: "B", perm: 0o644},
	})
	got, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range got {
		paths = append(paths, e.Path)
	}
	want := []string{"B", "a", "a-b", "a/c"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("order = %q, want %q", paths, want)
	}
}

func TestScanRefuses(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string
		unsafe  bool
	}{
		{
			name:    "absolute symlink",
			setup:   func(t *testing.T, dir string) { writeTree(t, dir, []node{{path: "assets/link", link: "/etc/passwd"}}) },
			wantErr: `assets/link: symlink to "/etc/passwd" is absolute, so it escapes the package`,
			unsafe:  true,
		},
		{
			name: "symlink up and out",
			setup: func(t *testing.T, dir string) {
				writeTree(t, dir, []node{{path: "assets/link", link: "../../etc/passwd"}})
			},
			wantErr: `assets/link: symlink to "../../etc/passwd" leads out of assets/`,
			unsafe:  true,
		},
		{
			// assets/ becomes the prefix: a link out of it pointed at the
			// prefix's parent ($HOME with the default prefix) once installed.
			name:    "symlink out of assets",
			setup:   func(t *testing.T, dir string) { writeTree(t, dir, []node{{path: "assets/home", link: ".."}}) },
			wantErr: `assets/home: symlink to ".." leads out of assets/, which is installed as the prefix: it would point outside the prefix (a link in assets/ must stay inside assets/)`,
			unsafe:  true,
		},
		{
			name: "symlink from assets into scripts",
			setup: func(t *testing.T, dir string) {
				writeTree(t, dir, []node{{path: "scripts/run", content: "#!/bin/sh\n"}, {path: "assets/bin/run", link: "../../scripts/run"}})
			},
			wantErr: `assets/bin/run: symlink to "../../scripts/run" leads out of assets/`,
			unsafe:  true,
		},
		{
			name: "symlink in scripts out of the package",
			setup: func(t *testing.T, dir string) {
				writeTree(t, dir, []node{{path: "scripts/link", link: "../../etc/passwd"}})
			},
			wantErr: `scripts/link: symlink to "../../etc/passwd" escapes the package`,
			unsafe:  true,
		},
		{
			name:    "symlink to the parent of root",
			setup:   func(t *testing.T, dir string) { writeTree(t, dir, []node{{path: "up", link: ".."}}) },
			wantErr: `up: symlink to ".." escapes the package`,
			unsafe:  true,
		},
		{
			// Lexically "d/.." is "sub", but through d (-> ..) the kernel
			// lands above the root.
			name: "dot-dot after a name",
			setup: func(t *testing.T, dir string) {
				writeTree(t, dir, []node{{path: "sub/d", link: ".."}, {path: "sub/e", link: "d/.."}})
			},
			wantErr: `sub/e: symlink to "d/.." has ".." after a name`,
			unsafe:  true,
		},
		{
			name: "fifo",
			setup: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "assets"), 0o755)
				if err := syscall.Mkfifo(filepath.Join(dir, "assets", "pipe"), 0o644); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
			},
			wantErr: "assets/pipe: is a named pipe (FIFO) (only regular files, directories and symlinks are allowed)",
			unsafe:  true,
		},
		{
			name: "device file",
			setup: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "assets"), 0o755)
				// /dev/null's numbers: 1, 3.
				if err := syscall.Mknod(filepath.Join(dir, "assets", "dev"), syscall.S_IFCHR|0o644, 1<<8|3); err != nil {
					t.Skipf("mknod needs privileges this sandbox lacks: %v", err)
				}
			},
			wantErr: "assets/dev: is a device file (only regular files, directories and symlinks are allowed)",
			unsafe:  true,
		},
		{
			name: "unreadable file",
			setup: func(t *testing.T, dir string) {
				if os.Geteuid() == 0 {
					t.Skip("running as root, which can read any file: the permission check cannot fail")
				}
				writeTree(t, dir, []node{{path: "secret", content: "x", perm: 0o000}})
			},
			wantErr: "secret: cannot read: permission denied",
		},
		{
			name: "unreadable directory",
			setup: func(t *testing.T, dir string) {
				if os.Geteuid() == 0 {
					t.Skip("running as root, which can read any directory: the permission check cannot fail")
				}
				writeTree(t, dir, []node{{path: "locked/x", perm: 0o644}})
				os.Chmod(filepath.Join(dir, "locked"), 0o000)
				t.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o755) })
			},
			wantErr: "locked: cannot read: permission denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := Scan(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Scan error = %v, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrUnsafe); got != tt.unsafe {
				t.Errorf("errors.Is(err, ErrUnsafe) = %v, want %v", got, tt.unsafe)
			}
		})
	}
}

func TestScanSymlinkTargets(t *testing.T) {
	tests := []struct {
		path, link string
		ok         bool
	}{
		{"self", ".", true},
		{"sibling", "manifest.yaml", true},
		{"a/b/up-to-root", "../..", true},
		{"a/b/up-and-down", "../../manifest.yaml", true},
		{"a/b/dot-slash", "./.././b", true},
		{"a/dangling", "missing/file", true},
		{"a/b/too-far", "../../..", false},
		{"a/down-then-up", "./b/../b", false}, // ".." after a name
		{"abs", "/", false},
		{"empty-components", "a//b/", true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, []node{{path: "manifest.yaml", perm: 0o644}, {path: "a/b", dir: true}, {path: tt.path, link: tt.link}})
			_, err := Scan(dir)
			if (err == nil) != tt.ok {
				t.Errorf("Scan with %s -> %s: err = %v, want ok = %v", tt.path, tt.link, err, tt.ok)
			}
		})
	}
}

func TestScanRootErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	if _, err := Scan(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Scan(file) error = %v, want not a directory", err)
	}
	if _, err := Scan(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Scan(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestScanRootThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []node{{path: "pkg/manifest.yaml", perm: 0o644}, {path: "alias", link: "pkg"}})
	got, err := Scan(filepath.Join(dir, "alias"))
	if err != nil || len(got) != 1 || got[0].Path != "manifest.yaml" {
		t.Errorf("Scan(alias) = %+v, %v; want the manifest", got, err)
	}
}
