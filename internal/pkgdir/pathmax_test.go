package pkgdir

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/distpac/distpac/internal/archive"
)

// TestPathBoundary: at the bounds, add (Load, then Write) and the client's
// extraction take the same paths, and add refuses the others with its own
// error naming the file. A path of exactly 4096 bytes passed add's check
// and failed with the OS's "file name too long" (PATH_MAX counts the NUL),
// and so did one of 4095 bytes once joined under the package's directory.
func TestPathBoundary(t *testing.T) {
	name255, name256 := strings.Repeat("n", 255), strings.Repeat("n", 256)
	tests := []struct {
		name string
		rel  string // from the package's root
		want string // Load's line after "DIR: ", "" when it publishes
	}{
		{"path of 4095 bytes", pathOf(4095), ""},
		{"path of 4096 bytes", pathOf(4096), "assets/" + strings.Repeat("a", 33) + "…(4096 bytes): path longer than 4095 bytes"},
		{"path of 4097 bytes", pathOf(4097), "assets/" + strings.Repeat("a", 33) + "…(4097 bytes): path longer than 4095 bytes"},
		{"name of 255 bytes", "assets/" + name255, ""},
		{"name of 256 bytes", "assets/" + name256, "assets/" + strings.Repeat("n", 33) + "…(263 bytes): name " + strings.Repeat("n", 40) + "…(256 bytes) longer than 255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			writeFiles(t, dir, map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/": ""})
			// No Linux file system holds a name of 256 bytes: what add
			// would meet is a list of entries (Write's own check).
			onDisk := !strings.Contains(tt.rel, name256)
			if onDisk {
				mkdirAt(t, filepath.Join(dir, "assets"), strings.TrimPrefix(tt.rel, "assets/"))
			}
			entries := []archive.Entry{{Path: tt.rel, Mode: 0o644, Size: 1}}
			if onDisk {
				p, err := Load(dir)
				if tt.want != "" {
					if err == nil || err.Error() != dir+": "+tt.want {
						t.Fatalf("Load = %v\nwant %s", err, dir+": "+tt.want)
					}
				} else if err != nil {
					t.Fatalf("Load: %v", err)
				} else {
					entries = p.Entries
				}
			}
			var buf bytes.Buffer
			_, err := archive.Write(&buf, dir, entries)
			if tt.want == "" && err != nil {
				t.Fatalf("Write: %v", err)
			}
			if tt.want != "" && (err == nil || !strings.HasSuffix(err.Error(), tt.want)) {
				t.Fatalf("Write = %v, want an error ending %q", err, tt.want)
			}
			// The client takes what add publishes, and refuses the rest.
			data := buf.Bytes()
			if tt.want != "" {
				data = rawArchive(t, tt.rel)
			}
			err = archive.Extract(context.Background(), bytes.NewReader(data), filepath.Join(t.TempDir(), "dest"), 0)
			if (err == nil) != (tt.want == "") {
				t.Fatalf("Extract = %v, want refused: %v", err, tt.want != "")
			}
		})
	}
}

// pathOf is a path of n bytes under assets/, names of 200 bytes and a
// file's of 55 to 255.
func pathOf(n int) string {
	p := "assets/"
	for n-len(p) > 255 {
		p += strings.Repeat("a", 200) + "/"
	}
	return p + strings.Repeat("f", n-len(p))
}

// rawArchive is a tar.zst holding one file at name, as no add writes it.
func rawArchive(t *testing.T, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, "x"); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
