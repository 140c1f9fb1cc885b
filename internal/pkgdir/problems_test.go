package pkgdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadReportsEveryProblem: a package directory with several problems
// gets all of them in one error, each on its line naming the file, where
// add told only the first and the publisher met the next on the next run.
func TestLoadReportsEveryProblem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello")
	writeFiles(t, dir, map[string]string{
		"manifest.yaml":      "version: 1.0\nmaintainer: me\n",
		"assets/bin/tool":    "x",
		"scripts/install.sh": "true\n",
	})
	for link, target := range map[string]string{
		"assets/etc": "/etc",                // absolute
		"assets/up":  "..",                  // out of assets/
		"scripts/r":  "../../../etc/passwd", // out of the package
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "assets", "bin", "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		dir + `/manifest.yaml: field "version": "1.0" is not a SemVer`,
		dir + `/manifest.yaml: field "maintainer": unknown key`,
		dir + `: assets/etc: symlink to "/etc" is absolute, so it escapes the package`,
		dir + `: assets/up: symlink to ".." leads out of assets/`,
		dir + `: scripts/r: symlink to "../../../etc/passwd" escapes the package`,
		dir + `: assets/bin/pipe: is a named pipe (FIFO) (only regular files, directories and symlinks are allowed)`,
	} {
		if !strings.Contains(msg, "\n"+want) && !strings.HasPrefix(msg, want) {
			t.Errorf("error lacks the line %q:\n%s", want, msg)
		}
	}
}

// TestLoadBoundsProblems: past archive.MaxProblems, the rest is counted.
func TestLoadBoundsProblems(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello")
	writeFiles(t, dir, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/": ""})
	for i := range 25 {
		if err := os.Symlink("/etc", filepath.Join(dir, "assets", fmt.Sprintf("l%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(dir)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 21 || lines[20] != dir+": and 5 more problems" {
		t.Errorf("%d lines, last %q; want 20 and %q", len(lines), lines[len(lines)-1], dir+": and 5 more problems")
	}
}

// TestLoadBounds: paths too long or too deep are refused at add with the
// file and the bound, in the same words as the client's extraction; the
// first directory past a bound is named and not descended into. (A name
// over 255 bytes no Linux file system holds: TestCleanName covers it.)
// Before, a 5,000-byte path failed with the OS's "file name too long"
// after the whole path, and 1,000 levels published.
func TestLoadBounds(t *testing.T) {
	long := strings.Repeat(strings.Repeat("a", 200)+"/", 24) + "f" // 4,849 bytes
	deep := strings.Repeat("d/", 1000) + "f"
	tests := []struct {
		name string
		path string // under assets/
		want string // the line, after "DIR: "
	}{
		{"path of 5,000 bytes", long, "assets/" + strings.Repeat("a", 33) + "…(4227 bytes): path longer than 4095 bytes"},
		{"1,000 levels", deep, "assets/" + strings.Repeat("d/", 16) + "d…(262 bytes): path 129 levels deep, more than 128"},
		{"128 levels", strings.Repeat("d/", 126) + "f", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			writeFiles(t, dir, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/": ""})
			mkdirAt(t, filepath.Join(dir, "assets"), tt.path)
			_, err := Load(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || err.Error() != dir+": "+tt.want {
				t.Fatalf("Load = %v\nwant %s", err, dir+": "+tt.want)
			}
		})
	}
}

// mkdirAt makes the directories of rel under dir and a file at its end,
// a component at a time (rel may be longer than a system call takes).
func mkdirAt(t *testing.T, dir, rel string) {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		if err := r.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		sub, err := r.OpenRoot(p)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		r = sub
	}
	if err := r.WriteFile(parts[len(parts)-1], []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeFiles writes files under dir (a "/" suffix: a directory).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for path, text := range files {
		full := filepath.Join(dir, path)
		if strings.HasSuffix(path, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadNamesABadScriptOnce: a scripts/install.sh that is not a regular
// file is one problem, on one line. A FIFO, or a symlink out of the
// package, was named twice: as not a regular file, and by the scan.
func TestLoadNamesABadScriptOnce(t *testing.T) {
	tests := []struct {
		name string
		make func(path string) error
		want string // the one line naming install.sh
	}{
		{"a FIFO", func(p string) error { return syscall.Mkfifo(p, 0o644) },
			"DIR: scripts/install.sh: is a named pipe (FIFO) (only regular files, directories and symlinks are allowed)"},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o755) },
			"DIR/scripts/install.sh: not a regular file (a directory)"},
		{"a symlink out of the package", func(p string) error { return os.Symlink("/etc/passwd", p) },
			`DIR: scripts/install.sh: symlink to "/etc/passwd" is absolute, so it escapes the package`},
		{"a symlink inside", func(p string) error { return os.Symlink("uninstall.sh", p) },
			"DIR/scripts/install.sh: not a regular file (a symlink)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			writeFiles(t, dir, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/": "", "scripts/uninstall.sh": "true\n"})
			if err := tt.make(filepath.Join(dir, "scripts", "install.sh")); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if want := strings.ReplaceAll(tt.want, "DIR", dir); err == nil || err.Error() != want {
				t.Fatalf("Load = %v\nwant only %s", err, want)
			}
		})
	}
}
