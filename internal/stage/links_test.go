package stage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/distpac/distpac/internal/archive"
)

// handMade writes a .tar.zst of a manifest and the symlinks links (name
// -> target), made without archive.Write, which refuses what add refuses:
// an archive a publisher crafted by hand.
func handMade(t *testing.T, links map[string]string) Archive {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	manifest := "name: p\nversion: 1.0.0\n"
	for _, h := range []*tar.Header{
		{Name: "assets/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "assets/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "manifest.yaml", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(manifest))},
		{Name: "scripts/", Typeflag: tar.TypeDir, Mode: 0o755},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(manifest))
		}
	}
	for name, target := range links {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p-1.0.0.tar.zst")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return Archive{Path: path, Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:]), MaxInstalled: 1 << 20}
}

// TestExtractRefusesLinksOutOfAssets: assets/ becomes the prefix, so an
// archive with a symlink that leaves it (hand-made: add refuses such a
// package) is refused at install, with the link named, and nothing of
// it is kept to stage or place. Before, assets/home -> .. was installed
// as prefix/home, leading to the prefix's parent ($HOME by default).
func TestExtractRefusesLinksOutOfAssets(t *testing.T) {
	for _, tt := range []struct {
		name, target string
		want         string // "" when accepted
	}{
		{"assets/home", "..", `entry "assets/home": symlink to ".." leads out of assets/, which is installed as the prefix`},
		{"assets/bin/run", "../../scripts/run", `entry "assets/bin/run": symlink to "../../scripts/run" leads out of assets/`},
		{"assets/m", "../manifest.yaml", `entry "assets/m": symlink to "../manifest.yaml" leads out of assets/`},
		{"assets/bin/run", "../share/run", ""},
		{"scripts/run", "../assets/bin/run", ""},
	} {
		t.Run(tt.name+" -> "+tt.target, func(t *testing.T) {
			a := handMade(t, map[string]string{tt.name: tt.target})
			dir := filepath.Join(t.TempDir(), "p-1.0.0")
			_, err := Extract(context.Background(), a, dir)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, archive.ErrUnsafe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Extract = %v\nwant ErrUnsafe with %q", err, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Error("the refused archive's extraction was kept")
			}
		})
	}
}
