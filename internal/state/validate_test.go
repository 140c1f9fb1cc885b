package state

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestValidateRecord(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Record)
		want   string // "" = valid
	}{
		{"valid", func(*Record) {}, ""},
		{"traversal in version", func(r *Record) {
			r.Version = "1.0.0/../../../victim"
			r.Archive = r.Name + "-" + r.Version + ".tar.zst"
		}, "version"},
		{"loose version", func(r *Record) { r.Version = "1.0"; r.Archive = "foo-1.0.tar.zst" }, "version"},
		{"slash in name", func(r *Record) { r.Name = "../foo"; r.Archive = "../foo-1.0.0.tar.zst" }, "name"},
		{"archive mismatch", func(r *Record) { r.Archive = "../../x.tar.zst" }, "archive"},
		{"bad sha", func(r *Record) { r.SHA256 = "zz" }, "sha256"},
		{"relative prefix", func(r *Record) { r.Prefix = "opt/p" }, "prefix"},
		{"unclean prefix", func(r *Record) { r.Prefix = "/opt/p/../q" }, "prefix"},
		{"root prefix", func(r *Record) { r.Prefix = "/" }, "prefix"},
		{"bad dependency", func(r *Record) { r.Depends = []string{"x >=>="} }, "depends"},
		{"untracked escapes", func(r *Record) { r.Untracked = []string{"../etc/passwd"} }, "untracked"},
		{"negative size", func(r *Record) { r.Size = -1 }, "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec("foo", "1.0.0")
			tt.change(&r)
			err := ValidateRecord(r)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one about %s", err, tt.want)
			}
		})
	}
}

func TestValidateFile(t *testing.T) {
	tests := []struct {
		f  File
		ok bool
	}{
		{File{Path: "bin/x", Type: TypeFile, Mode: 0o644, SHA256: sum}, true},
		{File{Path: "bin", Type: TypeDir, Mode: 0o755}, true},
		{File{Path: "lib/l", Type: TypeSymlink, Mode: 0o777, Target: "/usr/lib/x"}, true},
		{File{Path: "/etc/x", Type: TypeFile, SHA256: sum}, false},
		{File{Path: "a/../b", Type: TypeDir}, false},
		{File{Path: "a//b", Type: TypeDir}, false},
		{File{Path: "a/./b", Type: TypeDir}, false},
		{File{Path: "a\x00b", Type: TypeDir}, false},
		{File{Path: "x", Type: TypeFile}, false},                        // no hash
		{File{Path: "x", Type: TypeSymlink}, false},                     // no target
		{File{Path: "x", Type: "fifo"}, false},                          // type
		{File{Path: "x", Type: TypeDir, Mode: 0o755 | 1<<30}, false},    // mode bits
		{File{Path: "x", Type: TypeDir, Size: 4096}, false},             // dir size
		{File{Path: "x", Type: TypeFile, SHA256: sum, Size: -1}, false}, // size
	}
	for _, tt := range tests {
		if err := ValidateFile(tt.f); (err == nil) != tt.ok {
			t.Errorf("ValidateFile(%+v) = %v, want ok=%v", tt.f, err, tt.ok)
		}
	}
}

// TestHandEditedVersionRefused is issue 9's attack: a version with a path
// in it is refused on load, with an error naming the file and the way out.
func TestHandEditedVersionRefused(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("foo", "1.0.0")}}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	execRaw(t, path, `UPDATE packages SET version = '1.0.0/../../../victim', archive = 'foo-1.0.0/../../../victim.tar.zst'`)
	_, err := Load(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load = %v, want a CorruptError", err)
	}
	for _, want := range []string{path, `package "foo"`, "version", "not a SemVer", "mv " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	db2, err := Open(ctx, path, "/opt/p")
	if err != nil {
		t.Fatal(err) // the file itself is sound; the record is what is refused
	}
	defer db2.Close()
	if _, err := db2.Records(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records = %v", err)
	}
	execRaw(t, path, `UPDATE packages SET version = '1.0.0', archive = 'foo-1.0.0.tar.zst'`)
	execRaw(t, path, `INSERT INTO files VALUES ('foo', '../../etc/passwd', 'file', 420, 1, ?, '', 0)`, sum)
	if _, err := db2.Files(ctx, "foo"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "../../etc/passwd") {
		t.Fatalf("Files = %v", err)
	}
}

func TestIsSHA256(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{sum, true},
		{strings.Repeat("f", 64), true},
		{"", false},
		{sum[:63], false},
		{sum + "0", false},
		{strings.ToUpper(sum), false},
		{strings.Repeat("g", 64), false},
		{sum[:63] + "/", false},
		{sum[:63] + ":", false},
		{sum[:63] + "`", false},
	} {
		if got := isSHA256(tt.in); got != tt.want {
			t.Errorf("isSHA256(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
