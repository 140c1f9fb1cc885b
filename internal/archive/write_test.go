package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestWriteReproducible holds the §4 promise: the same tree gives the same
// bytes, whatever the creation order, umask, permissions beyond the exec
// bit and modification times.
func TestWriteReproducible(t *testing.T) {
	dirA := t.TempDir()
	writeTree(t, dirA, sampleTree())
	want := archiveTree(t, dirA)

	tests := []struct {
		name  string
		umask int
		perm  func(fs.FileMode) fs.FileMode // applied to each file's perm
		mtime time.Time
	}{
		{name: "same tree again", perm: func(p fs.FileMode) fs.FileMode { return p }},
		{
			name:  "copy with umask 077 and owner-only perms",
			umask: 0o077,
			perm:  func(p fs.FileMode) fs.FileMode { return p & 0o700 },
			mtime: time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC),
		},
		{
			name:  "copy with group-writable perms and old mtimes",
			umask: 0o002,
			perm:  func(p fs.FileMode) fs.FileMode { return p | 0o664 },
			mtime: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := dirA
			if tt.name != "same tree again" {
				dir = t.TempDir()
				nodes := sampleTree()
				slices.Reverse(nodes) // different creation order
				for i := range nodes {
					nodes[i].perm = tt.perm(nodes[i].perm)
				}
				old := syscall.Umask(tt.umask)
				writeTree(t, dir, nodes)
				syscall.Umask(old)
				filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Type()&fs.ModeSymlink == 0 {
						os.Chtimes(p, tt.mtime, tt.mtime)
					}
					return err
				})
			}
			if got := archiveTree(t, dir); !bytes.Equal(got, want) {
				t.Errorf("archive differs: %d bytes vs %d", len(got), len(want))
			}
		})
	}
}

// TestWriteHeaders checks the normalised header fields themselves.
func TestWriteHeaders(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sampleTree())
	entries, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	size, err := Write(&buf, dir, entries)
	if err != nil {
		t.Fatal(err)
	}
	var wantSize int64
	for _, e := range entries {
		wantSize += e.Size
	}
	if size != wantSize {
		t.Errorf("installed size = %d, want %d", size, wantSize)
	}

	zr, err := zstd.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d/%d %q/%q, want 0/0 and empty names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v %v %v, want epoch and no atime/ctime", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		wantFormat := tar.FormatUSTAR
		if len(h.Name) > 100 || strings.ContainsFunc(h.Name, func(r rune) bool { return r > 127 }) {
			wantFormat = tar.FormatPAX
		}
		if h.Format != wantFormat {
			t.Errorf("%s: format %v, want %v", h.Name, h.Format, wantFormat)
		}
		wantMode := map[byte]int64{tar.TypeDir: 0o755, tar.TypeSymlink: 0o777}[h.Typeflag]
		if h.Typeflag == tar.TypeReg {
			wantMode = 0o644
			if strings.HasPrefix(h.Name, "scripts/") || h.Name == "assets/lib/libfoo.so.1" {
				wantMode = 0o755
			}
		}
		if h.Mode != wantMode {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, wantMode)
		}
	}
	if !slices.Contains(names, "assets/") || !slices.IsSorted(names) {
		t.Errorf("names = %q, want sorted with dirs spelled with a trailing slash", names)
	}
}

// TestRoundTrip extracts what Write produced and compares trees, and runs
// the extracted install script to prove it stayed executable.
func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	nodes := sampleTree()
	writeTree(t, src, nodes)
	entries, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Write(&buf, src, entries); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if err := Extract(context.Background(), &buf, dest, 1<<20); err != nil {
		t.Fatal(err)
	}
	got, err := Scan(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Errorf("extracted entries differ:\n got %+v\nwant %+v", got, entries)
	}
	for _, n := range nodes {
		if n.dir || n.link != "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dest, n.path))
		if err != nil || string(data) != n.content {
			t.Errorf("%s: content %q, %v; want %q", n.path, data, err, n.content)
		}
	}
	for _, tt := range []struct {
		path string
		perm fs.FileMode
	}{
		{"scripts/install.sh", 0o755},
		{"scripts/uninstall.sh", 0o755},
		{"manifest.yaml", 0o644},
		{"assets/zero", 0o644},
		{"assets/empty", fs.ModeDir | 0o755},
	} {
		info, err := os.Stat(filepath.Join(dest, tt.path))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode() & (fs.ModeDir | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != tt.perm {
			t.Errorf("%s: mode %v, want %v", tt.path, got, tt.perm)
		}
	}
	out, err := exec.Command(filepath.Join(dest, "scripts/install.sh")).CombinedOutput()
	if err != nil || string(out) != "installed\n" {
		t.Errorf("running extracted install.sh: %q, %v", out, err)
	}
}

func TestWriteDetectsChangedFile(t *testing.T) {
	tests := []struct {
		name    string
		change  func(path string) error
		wantErr string
	}{
		{"grown", func(p string) error { return os.WriteFile(p, []byte("longer content"), 0o644) }, "size changed since scan"},
		{"shrunk", func(p string) error { return os.WriteFile(p, nil, 0o644) }, "size changed since scan"},
		{"removed", os.Remove, "no such file"},
		{"now a directory", func(p string) error { os.Remove(p); return os.Mkdir(p, 0o755) }, "no longer a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, []node{{path: "f", content: "short", perm: 0o644}})
			entries, err := Scan(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(filepath.Join(dir, "f")); err != nil {
				t.Fatal(err)
			}
			_, err = Write(io.Discard, dir, entries)
			if err == nil || !strings.Contains(err.Error(), "f: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Write error = %v, want one naming f and saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteRefusesBadEntries(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		entry Entry
		want  string // in the error
	}{
		{"absolute", Entry{Path: "/etc/passwd", Mode: 0o644}, "/etc/passwd: absolute path"},
		{"dot-dot", Entry{Path: "a/../../x", Mode: 0o644}, ""},
		{"unclean", Entry{Path: "./a", Mode: fs.ModeDir | 0o755}, "not a clean relative path"},
		{"root", Entry{Path: ".", Mode: fs.ModeDir | 0o755}, "not a clean relative path"},
		{"escaping symlink", Entry{Path: "l", Mode: fs.ModeSymlink | 0o777, Linkname: "../x"}, ""},
		{"symlink out of assets", Entry{Path: "assets/m", Mode: fs.ModeSymlink | 0o777, Linkname: "../manifest.yaml"}, `assets/m: symlink to "../manifest.yaml" leads out of assets/`},
		{"fifo", Entry{Path: "p", Mode: fs.ModeNamedPipe | 0o644}, ""},
		// Which character, said (it read "not a clean relative path"),
		// the name quoted: never a raw newline on the terminal.
		{"newline", Entry{Path: "assets/new\nline.txt", Mode: 0o644}, `"assets/new\nline.txt": name contains the control character '\n'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(io.Discard, dir, []Entry{tt.entry})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write(%+v): %v, want an error with %q", tt.entry, err, tt.want)
			}
		})
	}
	if _, err := Write(io.Discard, dir, []Entry{{Path: "p", Mode: fs.ModeNamedPipe}}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Write(fifo) error = %v, want ErrUnsafe", err)
	}
}

// BenchmarkWrite archives 16 MiB of half-compressible data.
func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const files, fileSize = 16, 1 << 20
	for i := range files {
		data := make([]byte, fileSize)
		for j := range data {
			if j%2 == 0 {
				data[j] = byte(rng.Uint32())
			} else {
				data[j] = byte(j / 4096)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i))), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	entries, err := Scan(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(files * fileSize)
	for b.Loop() {
		if _, err := Write(io.Discard, dir, entries); err != nil {
			b.Fatal(err)
		}
	}
}

// mixedTree is a package tree of about size bytes: incompressible files,
// text-like files and a file alternating both, so that the encoder works on
// many blocks of both kinds.
func mixedTree(seed uint64, size int) []node {
	rng := rand.New(rand.NewPCG(seed, 7))
	words := []string{"alpha", "beta", "gamma", "delta", "install", "package", "the", "of", "zstd", "tar"}
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(" \n"[rng.IntN(8)/7])
		}
		return b.String()[:n]
	}
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return string(b)
	}
	var mixed strings.Builder
	for mixed.Len() < size/2 {
		mixed.WriteString(random(48 << 10))
		mixed.WriteString(text(80<<10 + 3))
	}
	return append(sampleTree(),
		node{path: "assets/random.bin", content: random(size / 4), perm: 0o644},
		node{path: "assets/doc/text.txt", content: text(size/4 + 511), perm: 0o644},
		node{path: "assets/mixed.dat", content: mixed.String(), perm: 0o755},
	)
}

// TestWriteIndependentOfConcurrency: Write runs the encoder on more than
// one goroutine (encoderConcurrency); the bytes must be those of one
// goroutine, or archives (and infohashes) would change with it.
func TestWriteIndependentOfConcurrency(t *testing.T) {
	trees := map[string][]node{
		"sample":   sampleTree(),
		"mixed 3M": mixedTree(1, 3<<20),
		"mixed 5M": mixedTree(2, 5<<20+12345),
	}
	for name, nodes := range trees {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, nodes)
			entries, err := Scan(dir)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for _, c := range []int{1, 2, 4} {
				var buf bytes.Buffer
				if _, err := write(&buf, dir, entries, nil, c, frameSize, 1); err != nil {
					t.Fatal(err)
				}
				if c == 1 {
					want = buf.Bytes()
					continue
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%d goroutines: %d bytes, differ from one goroutine's %d bytes", c, buf.Len(), len(want))
				}
			}
			if got := archiveTree(t, dir); !bytes.Equal(got, want) {
				t.Errorf("Write: %d bytes, differ from one goroutine's %d bytes", len(got), len(want))
			}
		})
	}
}

// TestTarSize: TarSize predicts the tar stream exactly (long PAX names,
// non-ASCII names, empty files and sizes off the 512-byte grid included),
// and WriteProgress counts the same total.
func TestTarSize(t *testing.T) {
	nodes := append(mixedTree(3, 200<<10),
		node{path: "assets/" + strings.Repeat("x", 250), content: "long", perm: 0o644},
		node{path: "assets/deep/" + strings.Repeat("dir/", 30) + "f", content: strings.Repeat("y", 513), perm: 0o644},
		node{path: "assets/link-" + strings.Repeat("l", 120), link: "a-b"},
		node{path: "assets/far-link", link: strings.Repeat("./", 70) + "a-b"},
	)
	dir := t.TempDir()
	writeTree(t, dir, nodes)
	entries, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := TarSize(entries)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var p Progress
	if _, err := WriteProgress(&buf, dir, entries, &p); err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		t.Fatal(err)
	}
	if n != want || p.In() != want || p.Total() != want {
		t.Errorf("tar stream %d bytes, progress counted %d of %d, TarSize said %d", n, p.In(), p.Total(), want)
	}
	if _, err := TarSize([]Entry{{Path: "../x", Mode: 0o644}}); err == nil {
		t.Error("TarSize accepted an entry Write refuses")
	}
}
