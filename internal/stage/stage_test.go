package stage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/state"
)

// pkg writes a package directory from path -> content (mode 0755 for
// scripts) and returns it.
func pkg(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pkg")
	for p, text := range files {
		abs := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "scripts/") || strings.HasPrefix(p, "assets/bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(abs, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func paths(files []state.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

func TestBuildAssetsAsTree(t *testing.T) {
	dir := pkg(t, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/bin/tool": "#!/bin/sh\n", "assets/share/doc": "doc"})
	prefix := filepath.Join(t.TempDir(), "prefix")
	tree, err := Build(context.Background(), dir, t.TempDir(), Options{Name: "tool", Version: "1.0.0", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if tree.Scripted || tree.Root != filepath.Join(dir, "assets") {
		t.Fatalf("tree = %+v, want assets/ as the root", tree)
	}
	if got := paths(tree.Files); !slices.Equal(got, []string{"bin", "bin/tool", "share", "share/doc"}) {
		t.Fatalf("files = %v", got)
	}
	sum := sha256.Sum256([]byte("doc"))
	if f := tree.Files[3]; f.Type != state.TypeFile || f.Size != 3 || f.Mode != 0o644 || f.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("share/doc = %+v", f)
	}
	if tree.Files[1].Mode != 0o755 || tree.Bytes != 13 {
		t.Fatalf("bin/tool = %+v, bytes %d", tree.Files[1], tree.Bytes)
	}
}

func TestBuildDestdir(t *testing.T) {
	dir := pkg(t, map[string]string{
		"manifest.yaml": "version: 1.0.0\n",
		"assets/hello":  "hi",
		"scripts/install.sh": `set -eu
mkdir -p "$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin"
cp "$DISTPAC_ASSETS/hello" "$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin/hello"
ln -s hello "$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin/hi"
echo "prefix is $DISTPAC_PREFIX"
`,
		"scripts/uninstall.sh": "true",
	})
	prefix := filepath.Join(t.TempDir(), "prefix")
	var out bytes.Buffer
	tree, err := Build(context.Background(), dir, t.TempDir(), Options{Name: "hello", Version: "1.0.0", Prefix: prefix, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !tree.Scripted || !tree.HasUninstall || len(tree.Untracked) != 0 {
		t.Fatalf("tree = %+v", tree)
	}
	if got := paths(tree.Files); !slices.Equal(got, []string{"bin", "bin/hello", "bin/hi"}) {
		t.Fatalf("files = %v", got)
	}
	if tree.Files[2].Type != state.TypeSymlink || tree.Files[2].Target != "hello" {
		t.Fatalf("symlink = %+v", tree.Files[2])
	}
	if out.String() != "prefix is "+prefix+"\n" {
		t.Fatalf("script output %q", out.String())
	}
	if _, err := os.Stat(prefix); !os.IsNotExist(err) {
		t.Fatal("staging touched the prefix")
	}
}

// TestBuildOldContract: a script that writes straight into the prefix
// still works; what it wrote is reported as untracked.
func TestBuildOldContract(t *testing.T) {
	dir := pkg(t, map[string]string{
		"manifest.yaml":      "version: 1.0.0\n",
		"scripts/install.sh": "mkdir -p \"$DISTPAC_PREFIX/bin\"\necho x > \"$DISTPAC_PREFIX/bin/old\"\necho y > \"$DISTPAC_PREFIX/existing\"\n",
	})
	prefix := filepath.Join(t.TempDir(), "prefix")
	os.MkdirAll(filepath.Join(prefix, "skip"), 0o755)
	os.WriteFile(filepath.Join(prefix, "existing"), []byte("before"), 0o644)
	os.WriteFile(filepath.Join(prefix, "untouched"), []byte("u"), 0o644)
	w := &Watch{Prefix: prefix, Exclude: []string{filepath.Join(prefix, "skip")}}
	tree, err := Build(context.Background(), dir, t.TempDir(), Options{Name: "old", Version: "1.0.0", Prefix: prefix, Watch: w})
	if err != nil {
		t.Fatal(err)
	}
	// A file overwritten in place ("existing") changes no directory and is
	// not noticed; new ones are.
	if !slices.Equal(tree.Untracked, []string{"bin/old"}) || len(tree.Files) != 0 {
		t.Fatalf("untracked %v, files %v", tree.Untracked, paths(tree.Files))
	}
}

func TestBuildRefuses(t *testing.T) {
	tests := map[string]struct {
		script string
		want   string
	}{
		"outside the prefix":       {"mkdir -p \"$DISTPAC_DESTDIR/etc\"; echo x > \"$DISTPAC_DESTDIR/etc/conf\"", "staged /etc, outside $DISTPAC_DESTDIR$DISTPAC_PREFIX"},
		"a FIFO":                   {"mkdir -p \"$DISTPAC_DESTDIR$DISTPAC_PREFIX\"; mkfifo \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/pipe\"", "staged pipe is a named pipe (FIFO)"},
		"a failing script":         {"echo oops; exit 7", "install.sh exited with status 7"},
		"a symlink for the prefix": {"d=\"$DISTPAC_DESTDIR$DISTPAC_PREFIX\"; mkdir -p \"${d%/*}\"; ln -s /tmp \"$d\"", "prefix as a symlink, where the prefix's directory belongs"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := pkg(t, map[string]string{"manifest.yaml": "version: 1.0.0\n", "scripts/install.sh": tt.script})
			_, err := Build(context.Background(), dir, t.TempDir(), Options{Name: "p", Version: "1.0.0", Prefix: filepath.Join(t.TempDir(), "prefix")})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// archiveOf writes the reproducible archive of a package directory.
func archiveOf(t *testing.T, dir string) (path string, size int64, sum string) {
	t.Helper()
	entries, err := archive.Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := archive.Write(&buf, dir, entries); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "p-1.0.0.tar.zst")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(buf.Bytes())
	return path, int64(buf.Len()), hex.EncodeToString(s[:])
}

func TestExtractChecksTheArchive(t *testing.T) {
	src := pkg(t, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/data": strings.Repeat("distpac ", 10000)})
	path, size, sum := archiveOf(t, src)
	a := Archive{Path: path, Size: size, SHA256: sum, MaxInstalled: 1 << 20}
	good := filepath.Join(t.TempDir(), "x")
	if _, err := Extract(context.Background(), a, good); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(good, "assets", "data")); len(b) != 80000 {
		t.Fatalf("extracted %d bytes", len(b))
	}

	wrong := a
	wrong.SHA256 = strings.Repeat("0", 64)
	dir := filepath.Join(t.TempDir(), "x")
	if _, err := Extract(context.Background(), wrong, dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("wrong hash: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("a staging from an archive that failed its check was kept")
	}

	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 0xff // the zstd checksum: a bad byte the extractor may not notice itself
	os.WriteFile(path, b, 0o644)
	if _, err := Extract(context.Background(), a, filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
	short := a
	short.Size--
	if _, err := Extract(context.Background(), short, filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bytes, the catalog says") {
		t.Fatalf("size: %v", err)
	}
}

func TestWatch(t *testing.T) {
	prefix := t.TempDir()
	os.MkdirAll(filepath.Join(prefix, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(prefix, "a", "old"), nil, 0o644)
	os.MkdirAll(filepath.Join(prefix, "staging"), 0o755)
	w := &Watch{Prefix: prefix, Exclude: []string{filepath.Join(prefix, "staging")}}
	w.Begin()
	if got := w.Changes(); len(got) != 0 {
		t.Fatalf("changes before anything changed: %v", got)
	}
	// Right after the listing, in the same clock tick: still noticed.
	os.WriteFile(filepath.Join(prefix, "a", "b", "new"), nil, 0o644)
	os.MkdirAll(filepath.Join(prefix, "c", "d"), 0o755)
	os.WriteFile(filepath.Join(prefix, "c", "d", "f"), nil, 0o644)
	os.MkdirAll(filepath.Join(prefix, "empty"), 0o755)
	os.WriteFile(filepath.Join(prefix, "staging", "x"), nil, 0o644)
	os.Symlink("a", filepath.Join(prefix, "link"))
	if got := w.Changes(); !slices.Equal(got, []string{"a/b/new", "c/d/f", "empty", "link"}) {
		t.Fatalf("Changes = %v", got)
	}
	if got := w.Changes(); len(got) != 0 {
		t.Fatalf("the same changes reported twice: %v", got)
	}
	os.RemoveAll(filepath.Join(prefix, "c"))
	os.WriteFile(filepath.Join(prefix, "a", "later"), nil, 0o644)
	if got := w.Changes(); !slices.Equal(got, []string{"a/later"}) {
		t.Fatalf("Changes = %v", got)
	}
}

// TestScanMatchesTheTree checks what Scan records, walked and hashed at
// once, against the tree read back one entry at a time.
func TestScanMatchesTheTree(t *testing.T) {
	root := t.TempDir()
	for i := range 300 {
		p := filepath.Join(root, "d"+strconv.Itoa(i%7), "f"+strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, i*37), 0o644); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if err := os.Chmod(p, 0o750); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink("d0/f0", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	files, total, err := Scan(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 300+7+1 {
		t.Fatalf("%d entries, want 308", len(files))
	}
	var want int64
	for i, f := range files {
		if i > 0 && files[i-1].Path >= f.Path {
			t.Fatalf("not sorted at %s", f.Path)
		}
		abs := filepath.Join(root, filepath.FromSlash(f.Path))
		info, err := os.Lstat(abs)
		if err != nil {
			t.Fatal(err)
		}
		if f.Mode != state.Perm(info.Mode()) {
			t.Errorf("%s: mode %v, want %v", f.Path, f.Mode, state.Perm(info.Mode()))
		}
		switch {
		case info.Mode().IsRegular():
			b, _ := os.ReadFile(abs)
			s := sha256.Sum256(b)
			if f.Type != state.TypeFile || f.Size != int64(len(b)) || f.SHA256 != hex.EncodeToString(s[:]) {
				t.Errorf("%s = %+v, want a file of %d bytes with SHA-256 %x", f.Path, f, len(b), s)
			}
			want += f.Size
		case info.IsDir():
			if f.Type != state.TypeDir || f.SHA256 != "" {
				t.Errorf("%s = %+v, want a directory", f.Path, f)
			}
		default:
			if f.Type != state.TypeSymlink || f.Target != "d0/f0" {
				t.Errorf("%s = %+v, want a symlink to d0/f0", f.Path, f)
			}
		}
	}
	if total != want {
		t.Errorf("bytes %d, want %d", total, want)
	}
}

// TestScanStopsWhenCancelled: what install.sh leaves is scanned, and a
// script may leave a sparse file of any size (truncate -s 1T): the scan
// must end with the context's error soon after Ctrl-C, whether it is
// hashing one huge file or walking many entries. Before, it hashed the
// whole terabyte (15 minutes) whatever the context said.
func TestScanStopsWhenCancelled(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, root string)
		// cancelAfter is when the context is cancelled; 0: before the scan.
		cancelAfter time.Duration
	}{
		{"a sparse terabyte, cancelled while it is hashed", func(t *testing.T, root string) {
			sparse(t, filepath.Join(root, "big"), 1<<40)
		}, 100 * time.Millisecond},
		{"a sparse terabyte under the others, cancelled before", func(t *testing.T, root string) {
			if err := os.WriteFile(filepath.Join(root, "a"), []byte("a"), 0o644); err != nil {
				t.Fatal(err)
			}
			sparse(t, filepath.Join(root, "z", "big"), 1<<40)
		}, 0},
		{"many entries, cancelled before", func(t *testing.T, root string) {
			for i := range 200 {
				if err := os.MkdirAll(filepath.Join(root, "d", strconv.Itoa(i)), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.make(t, root)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelAfter == 0 {
				cancel()
			} else {
				time.AfterFunc(tc.cancelAfter, cancel)
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := Scan(ctx, root)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Scan: %v, want context.Canceled", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Scan went on hashing 20 s after its context was cancelled")
			}
		})
	}
}

// sparse makes p a file of size bytes that takes no space (a hole), or
// skips the test where the file system cannot hold one that large.
func sparse(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("no sparse file of %d bytes here: %v", size, err)
	}
}

// An archive of over asyncHashFrom, hashed on a goroutine of its own
// (hasher): the check holds as for a small one, a wrong hash or a flipped
// byte refused and nothing kept.
func TestExtractLargeArchiveChecked(t *testing.T) {
	var data []byte // 3 MiB that do not compress: SHA-256 of a counter
	for i := 0; len(data) < 3<<20; i++ {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		data = append(data, h[:]...)
	}
	src := pkg(t, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/big": string(data)})
	path, size, sum := archiveOf(t, src)
	if size < asyncHashFrom {
		t.Fatalf("archive of %d bytes, want over %d", size, asyncHashFrom)
	}
	a := Archive{Path: path, Size: size, SHA256: sum, MaxInstalled: 1 << 30}
	good := filepath.Join(t.TempDir(), "x")
	if _, err := Extract(context.Background(), a, good); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(good, "assets", "big")); !bytes.Equal(b, data) {
		t.Fatalf("extracted %d bytes, not the payload", len(b))
	}
	wrong := a
	wrong.SHA256 = strings.Repeat("0", 64)
	dir := filepath.Join(t.TempDir(), "x")
	if _, err := Extract(context.Background(), wrong, dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong hash: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("a staging from an archive that failed its check was kept")
	}
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o644)
	if _, err := Extract(context.Background(), a, filepath.Join(t.TempDir(), "y")); err == nil {
		t.Fatal("a flipped byte in the middle: extracted")
	}
}
