package archive

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// node describes one path of a test tree: a directory (dir), a symlink
// (link != "") or a regular file with content and perm.
type node struct {
	path    string
	dir     bool
	link    string
	content string
	perm    fs.FileMode
}

// sampleTree is a small package with nested dirs, an executable script and
// internal symlinks.
func sampleTree() []node {
	return []node{
		{path: "manifest.yaml", content: "name: foo\nversion: 1.0.0\n", perm: 0o644},
		{path: "scripts", dir: true},
		{path: "scripts/install.sh", content: "#!/bin/sh\necho installed\n", perm: 0o755},
		{path: "scripts/uninstall.sh", content: "#!/bin/sh\nexit 0\n", perm: 0o744},
		{path: "assets", dir: true},
		{path: "assets/lib", dir: true},
		{path: "assets/lib/libfoo.so.1", content: strings.Repeat("elf", 1000), perm: 0o755},
		{path: "assets/lib/libfoo.so", link: "libfoo.so.1"},
		{path: "assets/bin", dir: true},
		{path: "assets/bin/foo", link: "../lib/libfoo.so.1"},
		{path: "assets/empty", dir: true},
		{path: "assets/zero", perm: 0o600},
		{path: "assets/a-b", content: "dash sorts before slash", perm: 0o644},
		{path: "data-link", link: "assets/lib"},
		// Names ustar cannot hold, so PAX records are reproducible too.
		{path: "assets/" + strings.Repeat("long-name-", 12), content: "pax", perm: 0o644},
		{path: "assets/ünïcödé.txt", content: "utf-8", perm: 0o644},
	}
}

// writeTree creates nodes under dir in the given order, parents included.
func writeTree(t testing.TB, dir string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(dir, filepath.FromSlash(n.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case n.dir:
			err = os.MkdirAll(p, 0o755)
		case n.link != "":
			err = os.Symlink(n.link, p)
		default:
			if err = os.WriteFile(p, []byte(n.content), n.perm); err == nil {
				err = os.Chmod(p, n.perm) // WriteFile's perm is masked by umask
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// member is one entry of a hand-crafted archive.
type member struct {
	hdr     tar.Header
	content string
}

// tarBytes builds an uncompressed tar of members, trusting their headers.
func tarBytes(t testing.TB, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := m.hdr
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(m.content))
		}
		if h.Mode == 0 && h.Typeflag != tar.TypeXGlobalHeader {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("header %q: %v", h.Name, err)
		}
		if m.content != "" {
			if _, err := tw.Write([]byte(m.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress wraps raw bytes in one zstd frame.
func compress(t testing.TB, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil)
}

// archiveTree scans dir and returns its archive bytes.
func archiveTree(t testing.TB, dir string) []byte {
	t.Helper()
	entries, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Write(&buf, dir, entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// assertConfined fails if anything exists under parent other than dest and
// what is below it, or if a symlink below dest resolves outside it.
func assertConfined(t testing.TB, parent, dest string) {
	t.Helper()
	realDest, err := filepath.EvalSymlinks(dest)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	err = filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == parent || p == dest {
			return nil
		}
		if !strings.HasPrefix(p, dest+string(filepath.Separator)) {
			t.Errorf("%s exists outside the destination", p)
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// Dangling and looping links are harmless; a link that resolves
			// must stay inside.
			if r, err := filepath.EvalSymlinks(p); err == nil && r != realDest && !strings.HasPrefix(r, realDest+string(filepath.Separator)) {
				t.Errorf("symlink %s resolves outside the destination to %s", p, r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertEmptyOrAbsent fails if dest holds anything.
func assertEmptyOrAbsent(t testing.TB, dest string) {
	t.Helper()
	ents, err := os.ReadDir(dest)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Errorf("destination not cleaned up after a failed extraction: %d entries left", len(ents))
	}
}
