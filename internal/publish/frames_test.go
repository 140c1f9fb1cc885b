package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestAddAcceptsOlderArchiveOfSameContent: older dist-servers wrote the
// same tar stream as other zstd bytes: an archive of more than 8 MiB of tar
// as one frame where this one writes several, and any archive with an
// 8 MiB window where this one declares 4 MiB. Adding the same directory
// again must keep the published package (a no-op with a warning), not
// refuse it as different content; a directory that does differ is still
// refused.
func TestAddAcceptsOlderArchiveOfSameContent(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int // of the package's one file
		opts []zstd.EOption
	}{
		{"one frame", 9 << 20, nil},
		{"8 MiB window", 5 << 20, []zstd.EOption{zstd.WithLowerEncoderMem(true)}},
	} {
		t.Run(tt.name, func(t *testing.T) { addOverOlderArchive(t, tt.size, tt.opts) })
	}
}

func addOverOlderArchive(t *testing.T, size int, opts []zstd.EOption) {
	ctx := context.Background()
	p := newPublisher(t)
	dir := writePkg(t, filepath.Join(t.TempDir(), "big"), "version: 1.0.0\n", "one")
	big := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = "abcdefgh \n"[rng.IntN(10)] // compressible, so frames matter
	}
	if err := os.WriteFile(filepath.Join(dir, "assets", "big.txt"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := p.Add(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	row := res[0].Package
	stored := filepath.Join(p.Paths.Archives(), row.Archive)

	// What an older dist-server published: the same tar stream in one
	// frame with SpeedDefault's 8 MiB window, with its own SHA-256, size
	// and torrent.
	framed, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	// A decoder for DecodeAll only: made with a reader, it also started a
	// stream decoder on it that nobody read, which could hold the block
	// decoders DecodeAll waits for (a clean clone's make test hung here
	// for 10 minutes, goroutines in DecodeAll and startStreamDecoder).
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	tarStream, err := dec.DecodeAll(framed, nil)
	dec.Close()
	if err != nil {
		t.Fatal(err)
	}
	var one bytes.Buffer
	enc, err := zstd.NewWriter(&one, append([]zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(tarStream)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(one.Bytes(), framed) {
		t.Fatal("the older encoder gave today's archive: the test needs another one")
	}
	if err := os.WriteFile(stored, one.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	meta, err := torrentmeta.Build(stored, "http://127.0.0.1:1/announce", "")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(one.Bytes())
	older := row
	older.SHA256, older.Size = hex.EncodeToString(sum[:]), int64(one.Len())
	older.InfoHash, older.Magnet, older.Torrent = meta.InfoHash, meta.Magnet, meta.Torrent
	db, err := catalog.Open(ctx, p.Paths.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Remove(ctx, row.Name, row.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(ctx, []catalog.Package{older}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := readState(t, p)

	again, err := p.Add(ctx, []string{dir})
	if err != nil {
		t.Fatalf("re-adding the same directory over an older archive: %v", err)
	}
	if again[0].Added || again[0].Package.InfoHash != older.InfoHash {
		t.Errorf("re-add: added %v, infohash %s; want the published %s kept", again[0].Added, again[0].Package.InfoHash, older.InfoHash)
	}
	if w := strings.Join(again[0].Warnings, "\n"); !strings.Contains(w, "older dist-server") {
		t.Errorf("no warning about the older archive: %q", w)
	}
	after := readState(t, p)
	if strings.Join(before.rows, ",") != strings.Join(after.rows, ",") || strings.Join(before.archives, ",") != strings.Join(after.archives, ",") {
		t.Errorf("the no-op changed the catalog or the store: %s", before.diff(after))
	}
	if got, _ := os.ReadFile(stored); !bytes.Equal(got, one.Bytes()) {
		t.Error("the published archive was replaced")
	}

	// A store file that is not the catalog's archive is never taken for
	// it, even holding the same tar stream.
	if err := os.WriteFile(stored, framed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(ctx, []string{dir}); err == nil || !strings.Contains(err.Error(), "not the catalog's") {
		t.Errorf("re-add over a changed store file: %v, want its SHA-256 refused", err)
	}
	if err := os.WriteFile(stored, one.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// Different content is still different.
	big[len(big)-1] ^= 1
	if err := os.WriteFile(filepath.Join(dir, "assets", "big.txt"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(ctx, []string{dir}); err == nil || !strings.Contains(err.Error(), "already published with different content") {
		t.Errorf("changed content over an older archive: %v", err)
	}
}
