package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzExtract feeds arbitrary input to Extract. The first byte picks the
// mode: even, the rest is the compressed stream as is (exercising the zstd
// decoder); odd, the rest is tar bytes wrapped in a valid zstd frame
// (exercising the tar checks). Extract must never panic, never leave
// anything outside dest (nor a symlink that resolves outside it) and clean
// up after itself when it fails.
func FuzzExtract(f *testing.F) {
	src := f.TempDir()
	writeTree(f, src, sampleTree())
	f.Add(append([]byte{0}, archiveTree(f, src)...))
	for _, ms := range [][]member{
		{dir("a/"), reg("a/b", "hello"), symlink("a/c", "b"), hardlink("d", "a/b")},
		{symlink("evil", "../.."), reg("evil/x", "pwned")},
		{symlink("sub/d", ".."), symlink("sub/e", "d/..")},
		{reg("../x", "x"), reg("/abs", "y")},
		{hardlink("h", "../../etc/passwd")},
		{{hdr: tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}},
		{reg("big", string(make([]byte, 4096)))},
		// Past the bounds (bounds.go): a path of 4,832 bytes, a name of
		// 300, a file 1,000 directories deep, a symlink target of 5,000.
		{reg("assets/"+strings.Repeat(strings.Repeat("a", 200)+"/", 24)+"f", "x")},
		{reg("assets/"+strings.Repeat("b", 300), "x")},
		{reg("assets/"+strings.Repeat("d/", 1000)+"f", "x")},
		{symlink("assets/l", strings.Repeat("x/", 2500))},
	} {
		raw := tarBytes(f, ms)
		f.Add(append([]byte{1}, raw...))
		f.Add(append([]byte{0}, compress(f, raw)...))
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	defer enc.Close()

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		stream := data[1:]
		if data[0]&1 == 1 {
			stream = enc.EncodeAll(stream, nil)
		}
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		err := Extract(context.Background(), bytes.NewReader(stream), dest, 1<<20)
		assertConfined(t, parent, dest)
		if err != nil {
			assertEmptyOrAbsent(t, dest)
		}
	})
}
