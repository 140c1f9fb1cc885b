package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestBuildTakesExtractedDigests: a package without install.sh staged
// with the Digests of its extraction records what reading every file
// records; a file written since its extraction is read again.
func TestBuildTakesExtractedDigests(t *testing.T) {
	files := map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/bin/tool": "#!/bin/sh\n", "assets/share/doc": "doc",
		"assets/share/big": strings.Repeat("distpac ", 40<<10)}
	for i := range 40 { // past the extractor's inline files: its writers write the rest
		files[fmt.Sprintf("assets/share/small/%02d", i)] = strings.Repeat("x", i)
	}
	path, size, sum := archiveOf(t, pkg(t, files))
	dir := filepath.Join(t.TempDir(), "pkg")
	digests, err := Extract(context.Background(), Archive{Path: path, Size: size, SHA256: sum, MaxInstalled: 1 << 20, Digests: true}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := digests.Lookup("assets/share/big"); !ok {
		t.Fatal("no digest of assets/share/big")
	}
	build := func(extracted bool) *Tree {
		t.Helper()
		o := Options{Name: "tool", Version: "1.0.0", Prefix: filepath.Join(t.TempDir(), "prefix")}
		if extracted {
			o.Extracted = digests
		}
		tree, err := Build(context.Background(), dir, t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		return tree
	}
	read, taken := build(false), build(true)
	if !reflect.DeepEqual(read.Files, taken.Files) || read.Bytes != taken.Bytes {
		t.Fatalf("with the extraction's digests:\n%+v\nreading every file:\n%+v", taken.Files, read.Files)
	}
	// Past the change time's tick (a jiffy on ext4), at the same size.
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "assets/share/doc"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("new"))
	for _, f := range build(true).Files {
		if f.Path == "share/doc" && f.SHA256 != hex.EncodeToString(want[:]) {
			t.Errorf("share/doc, written since its extraction, recorded with sha256 %s, want %x", f.SHA256, want)
		}
	}
}
