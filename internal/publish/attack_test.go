package publish_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
)

// newPublisher is a real server data directory in a temp dir, with the
// default server configuration.
func newPublisher(t *testing.T) *publish.Publisher {
	t.Helper()
	return publisherAt(t, t.TempDir())
}

func publisherAt(t *testing.T, root string) *publish.Publisher {
	t.Helper()
	cfg := &config.Server{}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &publish.Publisher{
		Paths:  paths.Home{Root: root}.Server(),
		Config: cfg,
		Logger: slog.New(slog.DiscardHandler),
	}
}

// writePkg writes a well-formed package at dir: manifest (as given),
// assets/data.txt holding payload, and executable install and uninstall
// scripts.
func writePkg(t *testing.T, dir, manifest, payload string) string {
	t.Helper()
	files := []struct {
		path, data string
		perm       os.FileMode
	}{
		{"manifest.yaml", manifest, 0o644},
		{"assets/data.txt", payload, 0o644},
		{"assets/sub/more.txt", "more " + payload, 0o644},
		{"scripts/install.sh", "#!/bin/sh\necho install\n", 0o755},
		{"scripts/uninstall.sh", "#!/bin/sh\necho uninstall\n", 0o755},
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.perm); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// state is everything a publication changes: the working catalog's serial
// and rows, the archive store's contents and the published snapshot.
type state struct {
	serial   int64
	rows     []string
	archives []string
	db, sig  []byte
}

func readState(t *testing.T, p *publish.Publisher) state {
	t.Helper()
	ctx := context.Background()
	var st state
	db, err := catalog.Open(ctx, p.Paths.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	meta, err := db.Meta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.serial = meta.Serial
	all, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		st.rows = append(st.rows, r.ID()+" "+r.InfoHash)
	}
	slices.Sort(st.rows)
	ents, err := os.ReadDir(p.Paths.Archives())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		st.archives = append(st.archives, e.Name()) // staging leftovers count too
	}
	st.db, _ = os.ReadFile(filepath.Join(p.Paths.PublicDir(), publish.DBFile))
	st.sig, _ = os.ReadFile(filepath.Join(p.Paths.PublicDir(), publish.SigFile))
	return st
}

func (a state) diff(b state) string {
	var d []string
	if a.serial != b.serial {
		d = append(d, fmt.Sprintf("serial %d -> %d", a.serial, b.serial))
	}
	if !slices.Equal(a.rows, b.rows) {
		d = append(d, fmt.Sprintf("rows %q -> %q", a.rows, b.rows))
	}
	if !slices.Equal(a.archives, b.archives) {
		d = append(d, fmt.Sprintf("archive store %q -> %q", a.archives, b.archives))
	}
	if !bytes.Equal(a.db, b.db) || !bytes.Equal(a.sig, b.sig) {
		d = append(d, "published snapshot changed")
	}
	return strings.Join(d, "; ")
}

const goodManifest = "version: 1.0.0\ndescription: fine\n"

// TestAddAttacks gives Add a good package together with a bad one and
// checks that the error names the bad path and what is wrong, and that
// nothing at all is published.
func TestAddAttacks(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	// An already published package for the case-clash attack.
	base := writePkg(t, filepath.Join(t.TempDir(), "libfoo"), "version: 1.0.0\n", "base")
	// And one whose archive name another name and version also spell.
	clash := writePkg(t, filepath.Join(t.TempDir(), "clash"), "name: clash-1.0.0\nversion: 2.0.0\n", "clash")
	if _, err := p.Add(ctx, []string{base, clash}); err != nil {
		t.Fatal(err)
	}
	good := writePkg(t, filepath.Join(t.TempDir(), "good"), goodManifest, "good")

	manifestOnly := func(m string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte(m), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(rel string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, rel)); err != nil {
				t.Fatal(err)
			}
		}
	}
	symlink := func(target, rel string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, rel)
			os.Remove(p)
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
	}

	tests := []struct {
		name    string
		dirName string // package directory's base name; default "bad"
		mutate  func(t *testing.T, dir string)
		// extra is another package directory given in the same call.
		extra func(t *testing.T) string
		want  []string // substrings of the error, besides the bad path
	}{
		{name: "missing manifest", mutate: remove("manifest.yaml"),
			want: []string{"manifest.yaml: missing"}},
		{name: "manifest is a directory", mutate: func(t *testing.T, dir string) {
			remove("manifest.yaml")(t, dir)
			os.Mkdir(filepath.Join(dir, "manifest.yaml"), 0o755)
		}, want: []string{"manifest.yaml: not a regular file"}},
		{name: "empty manifest", mutate: manifestOnly(""),
			want: []string{"manifest.yaml: manifest is empty"}},
		{name: "invalid YAML", mutate: manifestOnly("version: [1.0.0\n"),
			want: []string{"manifest.yaml", "invalid YAML: line 1"}},
		{name: "manifest not a mapping", mutate: manifestOnly("- 1.0.0\n"),
			want: []string{"manifest.yaml", "mapping"}},
		{name: "unknown key", mutate: manifestOnly("version: 1.0.0\nnmae: foo\n"),
			want: []string{"manifest.yaml", `"nmae"`, "unknown"}},
		{name: "duplicate key", mutate: manifestOnly("version: 1.0.0\nversion: 2.0.0\n"),
			want: []string{"manifest.yaml", `field "version": is set twice`}},
		{name: "missing version", mutate: manifestOnly("name: bad\n"),
			want: []string{"manifest.yaml", `field "version"`, "required"}},
		{name: "non-SemVer version 1.0", mutate: manifestOnly("version: \"1.0\"\n"),
			want: []string{"manifest.yaml", `field "version"`, "1.0"}},
		{name: "non-SemVer version v1.2.3", mutate: manifestOnly("version: v1.2.3\n"),
			want: []string{"manifest.yaml", `field "version"`, "v1.2.3"}},
		{name: "non-SemVer version word", mutate: manifestOnly("version: latest\n"),
			want: []string{"manifest.yaml", `field "version"`, "latest"}},
		{name: "version leading zero", mutate: manifestOnly("version: 01.2.3\n"),
			want: []string{"manifest.yaml", `field "version"`}},
		{name: "name with whitespace", mutate: manifestOnly("name: foo bar\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "whitespace"}},
		{name: "name with tab", mutate: manifestOnly("name: \"foo\\tbar\"\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "whitespace"}},
		{name: "dir name with whitespace", dirName: "my pkg", mutate: manifestOnly("version: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "my pkg", "whitespace"}},
		{name: "name with slash", mutate: manifestOnly("name: foo/bar\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, `"/"`}},
		{name: "name dotdot", mutate: manifestOnly("name: ..\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, `".."`}},
		{name: "name ../escape", mutate: manifestOnly("name: ../../etc\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`}},
		{name: "name with control character", mutate: manifestOnly("name: \"foo\\x01bar\"\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "control character U+0001"}},
		{name: "name with NUL", mutate: manifestOnly("name: \"foo\\0bar\"\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "control character U+0000"}},
		{name: "name with escape sequence", mutate: manifestOnly("name: \"foo\\e[31mred\"\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "control character U+001B"}},
		{name: "name leading dash", mutate: manifestOnly("name: -rf\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, `"-rf" must not start with "-"`}},
		{name: "name leading dot", mutate: manifestOnly("name: .hidden\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`}},
		{name: "name non-ASCII", mutate: manifestOnly("name: café\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`}},
		{name: "name 129 bytes", mutate: manifestOnly("name: " + strings.Repeat("a", 129) + "\nversion: 1.0.0\n"),
			want: []string{"manifest.yaml", `field "name"`, "129 bytes, at most 128"}},
		{name: "name differs in case from published", mutate: manifestOnly("name: LibFoo\nversion: 2.0.0\n"),
			want: []string{"manifest.yaml", `"name"`, `"LibFoo"`, `"libfoo"`, "case", "the directory's name"}},
		{name: "two new names differing in case in one call", mutate: manifestOnly("name: NewPkg\nversion: 1.0.0\n"),
			extra: func(t *testing.T) string {
				return writePkg(t, filepath.Join(t.TempDir(), "newpkg"), "name: newpkg\nversion: 2.0.0\n", "x")
			},
			want: []string{"manifest.yaml", `field "name"`, "NewPkg", "newpkg", "case"}},
		{name: "version differs from a published one only in build metadata", mutate: manifestOnly("name: libfoo\nversion: 1.0.0+b\n"),
			want: []string{"manifest.yaml", `field "version"`, "1.0.0+b differs from the published libfoo@1.0.0 only in build metadata"}},
		{name: "two versions differing only in build metadata in one call", mutate: manifestOnly("name: meta\nversion: 1.0.0+a\n"),
			extra: func(t *testing.T) string {
				return writePkg(t, filepath.Join(t.TempDir(), "meta"), "name: meta\nversion: 1.0.0+b\n", "x")
			},
			want: []string{"manifest.yaml", `field "version"`, "differs from 1.0.0+a", "only in build metadata"}},
		{name: "archive name of a published package", mutate: manifestOnly("name: clash\nversion: 1.0.0-2.0.0\n"),
			want: []string{"clash@1.0.0-2.0.0 has the archive name clash-1.0.0-2.0.0.tar.zst", "clash-1.0.0@2.0.0 already uses"}},
		{name: "archive name twice in one call", mutate: manifestOnly("name: dup\nversion: 1.0.0-2.0.0\n"),
			extra: func(t *testing.T) string {
				return writePkg(t, filepath.Join(t.TempDir(), "dup"), "name: dup-1.0.0\nversion: 2.0.0\n", "x")
			},
			want: []string{"dup-1.0.0@2.0.0 has the archive name dup-1.0.0-2.0.0.tar.zst, as does the package given by"}},
		{name: "same name@version twice in one call", mutate: manifestOnly("name: good\nversion: 1.0.0\n"),
			want: []string{"good@1.0.0 is also given by"}},
		{name: "missing assets", mutate: remove("assets"),
			want: []string{"assets: missing", "directory is required"}},
		{name: "assets is a file", mutate: func(t *testing.T, dir string) {
			remove("assets")(t, dir)
			os.WriteFile(filepath.Join(dir, "assets"), []byte("x"), 0o644)
		}, want: []string{"assets: not a directory"}},
		{name: "scripts is a file", mutate: func(t *testing.T, dir string) {
			remove("scripts")(t, dir)
			os.WriteFile(filepath.Join(dir, "scripts"), []byte("x"), 0o644)
		}, want: []string{"scripts: not a directory"}},
		{name: "uninstall.sh is a directory", mutate: func(t *testing.T, dir string) {
			remove("scripts/uninstall.sh")(t, dir)
			os.Mkdir(filepath.Join(dir, "scripts", "uninstall.sh"), 0o755)
		}, want: []string{"scripts/uninstall.sh: not a regular file"}},
		{name: "install.sh is a symlink", mutate: symlink("uninstall.sh", "scripts/install.sh"),
			want: []string{"scripts/install.sh: not a regular file"}},
		{name: "symlink escaping with ..", mutate: symlink("../../../../etc/passwd", "assets/evil"),
			want: []string{"assets/evil", `symlink to "../../../../etc/passwd" leads out of assets/`}},
		{name: "absolute symlink", mutate: symlink("/etc/passwd", "assets/evil"),
			want: []string{"assets/evil", `"/etc/passwd" is absolute`}},
		{name: "symlink to the package dir's sibling", mutate: symlink("../../good", "assets/evil"),
			want: []string{"assets/evil", `symlink to "../../good" leads out of assets/`}},
		{name: "assets symlinked outside", mutate: func(t *testing.T, dir string) {
			remove("assets")(t, dir)
			symlink("/etc", "assets")(t, dir)
		}, want: []string{"assets: not a directory"}},
		{name: "FIFO", mutate: func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "assets", "fifo"), 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, want: []string{"assets/fifo", "named pipe (FIFO)"}},
		{name: "character device", mutate: func(t *testing.T, dir string) {
			// /dev/null's numbers: 1, 3.
			if err := syscall.Mknod(filepath.Join(dir, "assets", "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
				t.Skipf("mknod not permitted here: %v", err)
			}
		}, want: []string{"assets/null", "device file"}},
		{name: "unix socket", mutate: func(t *testing.T, dir string) {
			fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				t.Skipf("socket: %v", err)
			}
			defer syscall.Close(fd)
			if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: filepath.Join(dir, "scripts", "sock")}); err != nil {
				t.Skipf("bind: %v", err)
			}
		}, want: []string{"scripts/sock", "socket"}},
		{name: "not a directory", mutate: func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(dir, []byte("x"), 0o644)
		}, want: []string{"not a directory"}},
		{name: "does not exist", mutate: remove(""),
			want: []string{"no such file or directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dirName := tc.dirName
			if dirName == "" {
				dirName = "bad"
			}
			bad := writePkg(t, filepath.Join(t.TempDir(), dirName), "version: 3.0.0\n", "bad")
			tc.mutate(t, bad)
			dirs := []string{good, bad}
			if tc.extra != nil {
				dirs = append(dirs, tc.extra(t))
			}
			before := readState(t, p)
			res, err := p.Add(ctx, dirs)
			if err == nil {
				t.Fatalf("Add accepted the bad package: %+v", res)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			want := tc.want
			if tc.extra == nil { // the problem may be reported on the other dir
				want = append([]string{bad}, want...)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if !strings.HasPrefix(msg, "nothing published") {
				t.Errorf("error does not start with %q: %s", "nothing published", msg)
			}
			if d := before.diff(readState(t, p)); d != "" {
				t.Errorf("a refused Add changed the server: %s", d)
			}
		})
	}
}

// unreadableEnv names, for the child, the data dir and the two package
// directories TestAddUnreadableHelper adds.
const unreadableEnv = "DISTPAC_PUBLISH_UNREADABLE_HELPER"

// TestAddUnreadableAsNobody: root reads anything, so the test binary is run
// again as uid 65534 against a data dir it owns and a package holding a
// mode-0000 file (the approach of internal/archive/unreadable_test.go).
func TestAddUnreadableAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		unreadableDirect(t)
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "data")
	p := publisherAt(t, root)
	base := writePkg(t, filepath.Join(dir, "libfoo"), "version: 1.0.0\n", "base")
	if _, err := p.Add(ctx, []string{base}); err != nil {
		t.Fatal(err)
	}
	// The child must be able to write the data dir (lock, staging).
	if err := filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, 65534, 65534)
	}); err != nil {
		t.Fatal(err)
	}
	good := writePkg(t, filepath.Join(dir, "good"), goodManifest, "good")
	bad := writePkg(t, filepath.Join(dir, "bad"), "version: 1.0.0\n", "bad")
	if err := os.Chmod(filepath.Join(bad, "assets", "data.txt"), 0); err != nil {
		t.Fatal(err)
	}
	// Beside the unreadable file, two bad symlinks: all three are
	// reported in one run (add told only the first, and the publisher
	// met the next one on the next run).
	if err := os.Symlink("/etc", filepath.Join(bad, "assets", "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(bad, "assets", "home")); err != nil {
		t.Fatal(err)
	}
	badDir := writePkg(t, filepath.Join(dir, "baddir"), "version: 1.0.0\n", "bad")
	if err := os.Mkdir(filepath.Join(badDir, "assets", "locked"), 0); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "publish.test")
	copyFile(t, os.Args[0], bin)
	before := readState(t, p)

	cmd := exec.Command(bin, "-test.run=^TestAddUnreadableHelper$", "-test.v")
	cmd.Env = append(os.Environ(), unreadableEnv+"="+strings.Join([]string{root, good, bad, badDir}, "\n"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot run the test binary as uid 65534 here: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
	for _, w := range []string{
		"add error: nothing published",
		bad + ": assets/data.txt: cannot read: permission denied",
		bad + `: assets/etc: symlink to "/etc" is absolute, so it escapes the package`,
		bad + `: assets/home: symlink to ".." leads out of assets/`,
		badDir + ": assets/locked: cannot read: permission denied",
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("child output lacks %q", w)
		}
	}
	if d := before.diff(readState(t, p)); d != "" {
		t.Errorf("a refused Add changed the server: %s", d)
	}
}

// unreadableDirect is the unprivileged variant: a 0000 file is unreadable
// for the test itself.
func unreadableDirect(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	good := writePkg(t, filepath.Join(t.TempDir(), "good"), goodManifest, "good")
	bad := writePkg(t, filepath.Join(t.TempDir(), "bad"), "version: 1.0.0\n", "bad")
	if err := os.Chmod(filepath.Join(bad, "assets", "data.txt"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(bad, "assets", "etc")); err != nil {
		t.Fatal(err)
	}
	before := readState(t, p)
	_, err := p.Add(ctx, []string{good, bad})
	if err == nil || !strings.Contains(err.Error(), "assets/data.txt: cannot read: permission denied") ||
		!strings.Contains(err.Error(), `assets/etc: symlink to "/etc" is absolute`) {
		t.Fatalf("Add: %v", err)
	}
	if d := before.diff(readState(t, p)); d != "" {
		t.Errorf("a refused Add changed the server: %s", d)
	}
}

// TestAddUnreadableHelper is the child side of TestAddUnreadableAsNobody.
func TestAddUnreadableHelper(t *testing.T) {
	env := os.Getenv(unreadableEnv)
	if env == "" {
		t.Skip("helper for TestAddUnreadableAsNobody")
	}
	args := strings.Split(env, "\n")
	p := publisherAt(t, "")
	p.Paths = paths.Server{Dir: args[0]} // the parent's data dir, chowned to us
	_, err := p.Add(context.Background(), args[1:])
	fmt.Printf("add error: %v\n", err)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAddIdempotent: the same content again is a no-op; different content
// under the same name@version is refused and changes nothing.
func TestAddIdempotent(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	dir := writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.2.3\n", "one")
	first, err := p.Add(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if !first[0].Added {
		t.Fatal("first Add did not add")
	}
	before := readState(t, p)

	again, err := p.Add(ctx, []string{dir})
	if err != nil {
		t.Fatalf("re-adding identical content: %v", err)
	}
	if again[0].Added {
		t.Error("re-adding identical content reported Added")
	}
	if again[0].Package.InfoHash != first[0].Package.InfoHash {
		t.Errorf("infohash changed: %s -> %s", first[0].Package.InfoHash, again[0].Package.InfoHash)
	}
	if d := before.diff(readState(t, p)); d != "" {
		t.Errorf("a no-op Add changed the server: %s", d)
	}

	// A copy elsewhere with the same content is the same package.
	cp := writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.2.3\n", "one")
	if res, err := p.Add(ctx, []string{cp}); err != nil || res[0].Added {
		t.Errorf("identical copy: added=%v err=%v", res != nil && res[0].Added, err)
	}

	for _, tc := range []struct {
		name   string
		mutate func(dir string) error
	}{
		{"payload", func(d string) error { return os.WriteFile(filepath.Join(d, "assets/data.txt"), []byte("two"), 0o644) }},
		{"mode", func(d string) error { return os.Chmod(filepath.Join(d, "assets/data.txt"), 0o755) }},
		{"manifest", func(d string) error {
			return os.WriteFile(filepath.Join(d, "manifest.yaml"), []byte("version: 1.2.3\ndescription: changed\n"), 0o644)
		}},
		{"new file", func(d string) error { return os.WriteFile(filepath.Join(d, "assets/new"), nil, 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := writePkg(t, filepath.Join(t.TempDir(), "foo"), "version: 1.2.3\n", "one")
			if err := tc.mutate(d); err != nil {
				t.Fatal(err)
			}
			_, err := p.Add(ctx, []string{d})
			if err == nil {
				t.Fatal("different content under a published name@version was accepted")
			}
			for _, w := range []string{d, "foo@1.2.3 is already published with different content", "new version"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if d := before.diff(readState(t, p)); d != "" {
				t.Errorf("a refused Add changed the server: %s", d)
			}
		})
	}
}

// TestAddReproducible: the same directory added in two separate data dirs
// gives byte-identical archives and the same infohash.
func TestAddReproducible(t *testing.T) {
	ctx := context.Background()
	dir := writePkg(t, filepath.Join(t.TempDir(), "repro"), "version: 0.1.0-rc.1\n", "same")
	var archives [2][]byte
	var hashes [2]string
	for i := range 2 {
		p := newPublisher(t)
		// Touch times and the walk must not matter: change mtimes between.
		if i == 1 {
			for _, f := range []string{"assets/data.txt", "scripts/install.sh", "manifest.yaml", "assets"} {
				if err := os.Chtimes(filepath.Join(dir, f), time.Unix(1e9, 0), time.Unix(1e9, 0)); err != nil {
					t.Fatal(err)
				}
			}
		}
		res, err := p.Add(ctx, []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		hashes[i] = res[0].Package.InfoHash
		archives[i], err = os.ReadFile(filepath.Join(p.Paths.Archives(), res[0].Package.Archive))
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Package.Archive != "repro-0.1.0-rc.1.tar.zst" {
			t.Errorf("archive name %q", res[0].Package.Archive)
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Errorf("archives differ (%d and %d bytes)", len(archives[0]), len(archives[1]))
	}
	if hashes[0] != hashes[1] || hashes[0] == "" {
		t.Errorf("infohashes differ: %s and %s", hashes[0], hashes[1])
	}
}
