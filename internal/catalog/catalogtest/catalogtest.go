// Package catalogtest builds catalogs for tests and benchmarks: rows whose
// torrents are what dist-server makes (torrentmeta), without archives
// behind them. It is a fixture and never linked into a binary.
package catalogtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// Announce is the tracker every row's torrent names.
const Announce = "http://127.0.0.1:6969/announce"

// rowSize is the archive size each row declares: 10 MiB is 160 pieces of
// 64 KiB, a torrent of 3.3 KB, as dist-server makes of a 10 MiB archive
// (the size behind the figures in catalog's and publish's comments).
const rowSize = 10 << 20

// Row is a consistent row for name@version, as dist-server would add it:
// the piece hashes and the SHA-256 are made up from the name and version,
// not hashed from an archive.
func Row(tb testing.TB, name, version string) catalog.Package {
	tb.Helper()
	archive := name + "-" + version + ".tar.zst"
	sum := sha256.Sum256([]byte(archive))
	pl := torrentmeta.PieceLength(rowSize)
	hashes := make([]byte, 0, (rowSize+pl-1)/pl*20)
	for seed := sum; len(hashes) < cap(hashes); seed = sha256.Sum256(seed[:]) {
		hashes = append(hashes, seed[:min(20, cap(hashes)-len(hashes))]...)
	}
	m, err := torrentmeta.FromPieces(archive, rowSize, torrentmeta.Pieces{Length: pl, Hashes: hashes},
		[]string{Announce}, "", netip.MustParseAddrPort("127.0.0.1:6881"))
	if err != nil {
		tb.Fatal(err)
	}
	return catalog.Package{
		Name:          name,
		Version:       version,
		Archive:       archive,
		Size:          rowSize,
		InstalledSize: 3 * rowSize,
		SHA256:        hex.EncodeToString(sum[:]),
		InfoHash:      m.InfoHash,
		Magnet:        m.Magnet,
		Torrent:       m.Torrent,
		Description:   "the " + name + " package",
		License:       "MIT",
		Homepage:      "https://example.org/" + name,
		Published:     time.Unix(1700000000, 0).UTC(),
	}
}

// Rows is n rows p00001@1.0.0, p00002@1.0.0, ...
func Rows(tb testing.TB, n int) []catalog.Package {
	tb.Helper()
	out := make([]catalog.Package, n)
	for i := range out {
		out[i] = Row(tb, fmt.Sprintf("p%05d", i+1), "1.0.0")
	}
	return out
}

// Fill adds n rows (Rows) to db in one Add.
func Fill(tb testing.TB, db *catalog.DB, n int) {
	tb.Helper()
	if _, err := db.Add(context.Background(), Rows(tb, n)); err != nil {
		tb.Fatal(err)
	}
}

// Serial is the serial of the catalog file at path (a published
// packages.db, or a working catalog.db no one writes meanwhile): serials
// are the time's (catalog.TimeSerial), so tests name the one a command
// made rather than a number.
func Serial(tb testing.TB, path string) int64 {
	tb.Helper()
	ctx := context.Background()
	db, err := catalog.OpenReadOnly(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	m, err := db.Meta(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return m.Serial
}
