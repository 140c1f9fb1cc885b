package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/distpac/distpac/internal/procs"
)

func reg(name, content string) member {
	return member{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, content: content}
}

func dir(name string) member {
	return member{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) member {
	return member{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) member {
	return member{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	big := strings.Repeat("z", 64<<10)
	tests := []struct {
		name    string
		members []member
		maxSize int64
		want    error  // sentinel, or nil for any error
		wantMsg string // substring of the error
	}{
		{name: "absolute path", members: []member{reg("/tmp/evil", "x")}, want: ErrUnsafe, wantMsg: `entry "/tmp/evil": absolute path`},
		{name: "dot-dot", members: []member{reg("../x", "x")}, want: ErrUnsafe, wantMsg: `".." component`},
		{name: "dot-dot inside", members: []member{reg("a/../../x", "x")}, want: ErrUnsafe, wantMsg: `".." component`},
		{name: "harmless-looking dot-dot", members: []member{reg("a/../b", "x")}, want: ErrUnsafe},
		{name: "absolute symlink", members: []member{symlink("l", "/etc")}, want: ErrUnsafe, wantMsg: "is absolute"},
		{
			name:    "escaping symlink then a file through it",
			members: []member{symlink("evil", "../.."), reg("evil/x", "pwned")},
			want:    ErrUnsafe, wantMsg: `symlink to "../.." escapes the destination`,
		},
		{
			name:    "inside symlink then a file through it",
			members: []member{dir("sub/"), symlink("l", "sub"), reg("l/x", "x")},
			want:    ErrUnsafe, wantMsg: `path goes through the symlink "l"`,
		},
		{
			name:    "symlink chain through dot-dot",
			members: []member{symlink("sub/d", ".."), symlink("sub/e", "d/..")},
			want:    ErrUnsafe, wantMsg: `has ".." after a name`,
		},
		{
			// A hand-made archive: add refuses such a package, install
			// must too, before anything is placed.
			name:    "symlink out of assets",
			members: []member{dir("assets/"), symlink("assets/home", "..")},
			want:    ErrUnsafe, wantMsg: `entry "assets/home": symlink to ".." leads out of assets/, which is installed as the prefix`,
		},
		{
			name:    "symlink from assets into scripts",
			members: []member{reg("scripts/run", "#!/bin/sh\n"), symlink("assets/bin/run", "../../scripts/run")},
			want:    ErrUnsafe, wantMsg: `symlink to "../../scripts/run" leads out of assets/`,
		},
		{name: "hardlink escaping", members: []member{hardlink("h", "../../etc/passwd")}, want: ErrUnsafe, wantMsg: "hardlink"},
		{name: "hardlink absolute", members: []member{hardlink("h", "/etc/passwd")}, want: ErrUnsafe, wantMsg: "hardlink"},
		{name: "hardlink to unknown file", members: []member{hardlink("h", "later"), reg("later", "x")}, want: ErrUnsafe, wantMsg: "not to an extracted regular file"},
		{name: "hardlink to directory", members: []member{dir("d/"), hardlink("h", "d")}, want: ErrUnsafe},
		{name: "hardlink to symlink", members: []member{symlink("s", "x"), hardlink("h", "s")}, want: ErrUnsafe},
		{name: "file through a file", members: []member{reg("f", "x"), reg("f/g", "y")}, want: ErrUnsafe, wantMsg: `goes through the file "f"`},
		{
			name:    "char device",
			members: []member{{hdr: tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}},
			want:    ErrUnsafe, wantMsg: "a character device",
		},
		{name: "block device", members: []member{{hdr: tar.Header{Name: "dev", Typeflag: tar.TypeBlock, Devmajor: 8}}}, want: ErrUnsafe},
		{name: "fifo", members: []member{{hdr: tar.Header{Name: "p", Typeflag: tar.TypeFifo}}}, want: ErrUnsafe, wantMsg: "a FIFO"},
		{name: "duplicate file", members: []member{reg("a", "1"), reg("a", "2")}, want: ErrUnsafe, wantMsg: "duplicate entry"},
		{name: "duplicate via dot slash", members: []member{reg("a", "1"), reg("./a", "2")}, want: ErrUnsafe, wantMsg: "duplicate entry"},
		{name: "file over symlink", members: []member{symlink("a", "b"), reg("a", "2")}, want: ErrUnsafe},
		{name: "symlink named dot", members: []member{symlink(".", "x")}, want: ErrUnsafe},
		{name: "bomb in one file", members: []member{reg("big", big)}, maxSize: 1000, want: ErrTooLarge},
		{
			name:    "bomb across files",
			members: []member{reg("a", big[:600]), reg("b", big[:600])},
			maxSize: 1000, want: ErrTooLarge, wantMsg: `entry "b": 600 bytes would exceed the limit of 1000 bytes`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			data := compress(t, tarBytes(t, tt.members))
			err := Extract(context.Background(), bytes.NewReader(data), dest, tt.maxSize)
			if err == nil {
				t.Fatal("Extract succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want errors.Is %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
			assertConfined(t, parent, dest)
			assertEmptyOrAbsent(t, dest)
		})
	}
}

func TestExtractMalformedStreams(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleTree())
	good := archiveTree(t, src)
	tests := []struct {
		name string
		data []byte
	}{
		{"truncated in half", good[:len(good)/2]},
		{"truncated last byte", good[:len(good)-1]},
		{"not zstd", []byte("this is not an archive")},
		{"empty", nil},
		{"zstd of garbage", compress(t, bytes.Repeat([]byte("garbage!"), 200))},
		{"trailing megabytes after tar", compress(t, append(tarBytes(t, []member{reg("a", "x")}), make([]byte, 2<<20)...))},
		{"global header", compress(t, tarBytes(t, []member{{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}}}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			if err := Extract(context.Background(), bytes.NewReader(tt.data), dest, 0); err == nil {
				t.Fatal("Extract succeeded, want an error")
			}
			assertConfined(t, parent, dest)
			assertEmptyOrAbsent(t, dest)
		})
	}
}

// TestDecoderReuse: a decoder kept in the pool (decoders) after a stream
// that failed halfway, or that was left unread, decodes the next stream
// whole. Extract and ReadFile take their decoders from the pool, so a
// failed archive must not spoil the next package's.
func TestDecoderReuse(t *testing.T) {
	src := t.TempDir()
	// A file past smallFile too, copied through the pooled copy buffer.
	writeTree(t, src, append(sampleTree(), node{path: "assets/big", content: strings.Repeat("0123456789abcdef", 40<<10), perm: 0o644}))
	good := archiveTree(t, src)
	want := decodeAll(t, good)
	wantEntries, err := Scan(src)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"truncated":   good[:len(good)/2],
		"not zstd":    []byte("this is not an archive"),
		"garbage":     compress(t, bytes.Repeat([]byte("garbage!"), 200))[:40],
		"left unread": good,
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			// The same decoder, reset as releaseDecoder and newDecoder do.
			d, err := newDecoder(bytes.NewReader(data), 0)
			if err != nil {
				t.Fatal(err)
			}
			if name == "left unread" {
				d.Read(make([]byte, 100))
			} else if _, err := io.Copy(io.Discard, d); err == nil {
				t.Fatal("decoding succeeded, want an error")
			}
			if err := d.Reset(nil); err != nil {
				t.Fatal(err)
			}
			if err := d.Reset(bytes.NewReader(good)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(d)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("after %s: decoded %d bytes, err %v; want %d bytes", name, len(got), err, len(want))
			}
			releaseDecoder(d)

			// Through the pool: a failed extraction, then a good one.
			parent := t.TempDir()
			if err := Extract(context.Background(), bytes.NewReader(data), filepath.Join(parent, "bad"), 0); err == nil && name != "left unread" {
				t.Fatal("Extract of a bad archive succeeded")
			}
			dest := filepath.Join(parent, "good")
			if err := Extract(context.Background(), bytes.NewReader(good), dest, 0); err != nil {
				t.Fatalf("Extract after %s: %v", name, err)
			}
			if got, err := Scan(dest); err != nil || !reflect.DeepEqual(got, wantEntries) {
				t.Fatalf("extracted after %s: %v, %v; want %v", name, got, err, wantEntries)
			}
		})
	}
}

func decodeAll(t *testing.T, data []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExtractForeignArchives accepts what other tar tools write: "./"
// prefixes, missing parent entries, a directory listed after its files,
// setuid bits (dropped) and hardlinks.
func TestExtractForeignArchives(t *testing.T) {
	members := []member{
		dir("./"),
		{hdr: tar.Header{Name: "./bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755}, content: "#!/bin/sh\n"},
		{hdr: tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o1777}},
		{hdr: tar.Header{Name: "data/x", Typeflag: tar.TypeReg, Mode: 0o600}, content: "hello"},
		hardlink("data/y", "./data/x"),
		symlink("data/z", "../bin/tool"),
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(context.Background(), bytes.NewReader(compress(t, tarBytes(t, members))), dest, 5+10); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		mode fs.FileMode
	}{
		{"bin", fs.ModeDir | 0o755},
		{"bin/tool", 0o755},
		{"data", fs.ModeDir | 0o755},
		{"data/x", 0o644},
		{"data/y", 0o644},
		{"data/z", fs.ModeSymlink | 0o777},
	} {
		info, err := os.Lstat(filepath.Join(dest, tt.path))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != tt.mode {
			t.Errorf("%s: mode %v, want %v", tt.path, info.Mode(), tt.mode)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(dest, "data/y")); string(data) != "hello" {
		t.Errorf("hardlink content = %q, want hello", data)
	}
}

func TestExtractDestination(t *testing.T) {
	archive := compress(t, tarBytes(t, []member{reg("a", "x")}))
	tests := []struct {
		name    string
		setup   func(t *testing.T, dest string)
		wantErr string
	}{
		{name: "missing", setup: func(*testing.T, string) {}},
		{name: "empty", setup: func(t *testing.T, dest string) { os.Mkdir(dest, 0o755) }},
		{name: "not empty", setup: func(t *testing.T, dest string) { writeTree(t, dest, []node{{path: "keep", perm: 0o644}}) }, wantErr: "destination is not empty"},
		{name: "a file", setup: func(t *testing.T, dest string) { os.WriteFile(dest, nil, 0o644) }, wantErr: "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			tt.setup(t, dest)
			err := Extract(context.Background(), bytes.NewReader(archive), dest, 0)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// A failed extraction into an existing empty directory keeps it.
	dest := filepath.Join(t.TempDir(), "dest")
	os.Mkdir(dest, 0o755)
	bad := compress(t, tarBytes(t, []member{reg("a", "x"), reg("../b", "y")}))
	if err := Extract(context.Background(), bytes.NewReader(bad), dest, 0); err == nil {
		t.Fatal("Extract succeeded, want an error")
	}
	if info, err := os.Stat(dest); err != nil || !info.IsDir() {
		t.Errorf("pre-existing destination gone after failure: %v", err)
	}
	assertEmptyOrAbsent(t, dest)
}

func TestExtractCancelled(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleTree())
	data := archiveTree(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(ctx, bytes.NewReader(data), dest, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	assertEmptyOrAbsent(t, dest)
}

func TestReadFile(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleTree())
	data := archiveTree(t, src)
	foreign := compress(t, tarBytes(t, []member{dir("./"), reg("./manifest.yaml", "name: x\n")}))
	tests := []struct {
		name    string
		archive []byte
		member  string
		limit   int64
		want    string
		wantErr error
	}{
		{name: "manifest", archive: data, member: "manifest.yaml", limit: 1 << 10, want: "name: foo\nversion: 1.0.0\n"},
		{name: "no limit", archive: data, member: "scripts/install.sh", want: "#!/bin/sh\necho installed\n"},
		{name: "exact limit", archive: data, member: "manifest.yaml", limit: 25, want: "name: foo\nversion: 1.0.0\n"},
		{name: "over limit", archive: data, member: "manifest.yaml", limit: 24, wantErr: ErrTooLarge},
		{name: "missing", archive: data, member: "nope.yaml", wantErr: fs.ErrNotExist},
		{name: "dot-slash member", archive: foreign, member: "manifest.yaml", want: "name: x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFile(bytes.NewReader(tt.archive), tt.member, tt.limit)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("ReadFile = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := ReadFile(bytes.NewReader(data), "assets/lib/libfoo.so", 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile(symlink) error = %v, want not a regular file", err)
	}
}

// TestExtractManySmallFiles goes past what the parallel writers keep open
// (maxOpenDirs directories) and links files that may still be queued:
// every file must come out whole, with its mode, and every link must
// share its target's inode.
func TestExtractManySmallFiles(t *testing.T) {
	var ms []member
	want := map[string]string{}
	dirs := maxOpenDirs + 44
	for d := range dirs {
		for f := range 3 {
			name := fmt.Sprintf("d%03d/f%d", d, f)
			content := strings.Repeat(fmt.Sprintf("%s;", name), 1+d*f%97)
			m := reg(name, content)
			if f == 1 {
				m.hdr.Mode = 0o755
			}
			ms = append(ms, m)
			want[name] = content
		}
		if d%50 == 0 {
			ms = append(ms, hardlink(fmt.Sprintf("d%03d/link", d), fmt.Sprintf("d%03d/f2", d)))
		}
	}
	ms = append(ms, reg("big", strings.Repeat("z", smallFile+1)))
	want["big"] = strings.Repeat("z", smallFile+1)
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(context.Background(), bytes.NewReader(compress(t, tarBytes(t, ms))), dest, 1<<30); err != nil {
		t.Fatal(err)
	}
	for name, content := range want {
		p := filepath.Join(dest, filepath.FromSlash(name))
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(content))
		}
		info, _ := os.Stat(p)
		wantMode := plainPerm
		if strings.HasSuffix(name, "/f1") {
			wantMode = execPerm
		}
		if info.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", name, info.Mode().Perm(), wantMode)
		}
	}
	for d := 0; d < dirs; d += 50 {
		a, _ := os.Stat(filepath.Join(dest, fmt.Sprintf("d%03d/link", d)))
		b, _ := os.Stat(filepath.Join(dest, fmt.Sprintf("d%03d/f2", d)))
		if a == nil || b == nil || !os.SameFile(a, b) {
			t.Errorf("d%03d/link is not a link to d%03d/f2", d, d)
		}
	}
}

// TestExtractDuplicateSmallFile: a second entry of the same small file
// fails the extraction whichever writer reaches it, and nothing is left.
func TestExtractDuplicateSmallFile(t *testing.T) {
	ms := []member{reg("a/x", "one"), reg("a/y", "two")}
	for i := range 100 {
		ms = append(ms, reg(fmt.Sprintf("a/f%d", i), "filler"))
	}
	ms = append(ms, reg("a/x", "again"))
	parent := t.TempDir()
	dest := filepath.Join(parent, "dest")
	err := Extract(context.Background(), bytes.NewReader(compress(t, tarBytes(t, ms))), dest, 1<<20)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "a/x") {
		t.Fatalf("err = %v, want a duplicate a/x refused", err)
	}
	assertEmptyOrAbsent(t, dest)
}

// serial runs the test as a command on one processor (procs.Serial) and
// returns the processors it had.
func serial(t *testing.T) int {
	t.Helper()
	most := runtime.GOMAXPROCS(0)
	if most < 2 {
		t.Skip("one processor: nothing to change")
	}
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set in the environment: procs changes nothing")
	}
	t.Cleanup(procs.Serial())
	return most
}

// procsReader records the processors and goroutines when the extraction
// has read past at: by then the extractor is in the large file that
// follows the small ones.
type procsReader struct {
	r          io.Reader
	n, at      int64
	procs, gos int // GOMAXPROCS and goroutines when n passed at; 0 before
}

func (p *procsReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.procs == 0 && p.n > p.at {
		p.procs, p.gos = runtime.GOMAXPROCS(0), runtime.NumGoroutine()
	}
	return n, err
}

// TestExtractionOnEveryCore: in a command on one processor, an extraction
// runs on every core and gives them back when it ends, whether it succeeds
// or fails; up to inlineSmall small files start no writer goroutines, one
// more does.
func TestExtractionOnEveryCore(t *testing.T) {
	most := serial(t)
	big := make([]byte, 4<<20) // random: most of the archive's bytes
	rand.New(rand.NewSource(1)).Read(big)
	small := func(n int) []member {
		var ms []member
		for i := range n {
			ms = append(ms, reg(fmt.Sprintf("s%02d", i), "small"))
		}
		return ms
	}
	for _, c := range []struct {
		name    string
		members []member
		writers bool // goroutines of writers while the payload is read
		wantErr string
	}{
		{"a few small files", append(small(3), reg("big", string(big))), false, ""},
		{"inlineSmall small files", append(small(inlineSmall), reg("big", string(big))), false, ""},
		{"one more starts the writers", append(small(inlineSmall+1), reg("big", string(big))), true, ""},
		{"a hardlink drains them before the payload", append(small(inlineSmall+1), hardlink("link", "s16"), reg("big", string(big))), false, ""},
		{"a duplicate entry fails the extraction", append(small(inlineSmall+1), reg("big", string(big)), reg("s16", "again")), true, "s16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			archive := compress(t, tarBytes(t, c.members))
			pr := &procsReader{r: bytes.NewReader(archive), at: int64(len(archive) / 2)}
			before := runtime.NumGoroutine()
			err := Extract(context.Background(), pr, filepath.Join(t.TempDir(), "dest"), 1<<30)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("Extract: %v, want an error naming %q", err, c.wantErr)
			}
			if pr.procs != most {
				t.Errorf("payload extracted on %d processors, want %d", pr.procs, most)
			}
			if got := pr.gos > before; got != c.writers {
				t.Errorf("goroutines while the payload is read: %d, before %d; want writers running: %v", pr.gos, before, c.writers)
			}
			if got := runtime.GOMAXPROCS(0); got != 1 {
				t.Errorf("after the extraction: %d processors, want 1", got)
			}
		})
	}
}
