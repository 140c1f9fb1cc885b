package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// archiveBytes is stand-in archive content, distinct per name, version and salt.
func archiveBytes(name, version, salt string, size int) []byte {
	b := make([]byte, 0, size+sha256.Size)
	seed := sha256.Sum256([]byte(name + "@" + version + "#" + salt))
	for len(b) < size {
		b = append(b, seed[:]...)
		seed = sha256.Sum256(seed[:])
	}
	return b[:size]
}

// torrentFor builds a real single-file v1 torrent of data named file.
func torrentFor(tb testing.TB, file string, data []byte) (torrent []byte, infoHash, magnet string) {
	tb.Helper()
	info := metainfo.Info{Name: file, Length: int64(len(data)), PieceLength: 256 << 10}
	pieces, err := metainfo.GeneratePieces(bytes.NewReader(data), info.PieceLength, nil)
	if err != nil {
		tb.Fatal(err)
	}
	info.Pieces = pieces
	mi := metainfo.MetaInfo{Announce: "http://127.0.0.1:6969/announce"}
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		tb.Fatal(err)
	}
	torrent, err = bencode.Marshal(mi)
	if err != nil {
		tb.Fatal(err)
	}
	h := mi.HashInfoBytes()
	return torrent, h.HexString(), mi.Magnet(&h, &info).String()
}

// makePkg builds a fully consistent package row for an archive of size bytes.
func makePkg(tb testing.TB, name, version string, size int) Package {
	return makePkgSalt(tb, name, version, size, "")
}

// makePkgSalt is makePkg whose content (and so SHA256) changes with salt.
func makePkgSalt(tb testing.TB, name, version string, size int, salt string) Package {
	tb.Helper()
	archive := name + "-" + version + ".tar.zst"
	data := archiveBytes(name, version, salt, size)
	sum := sha256.Sum256(data)
	tor, ih, mag := torrentFor(tb, archive, data)
	return Package{
		Name:          name,
		Version:       version,
		Archive:       archive,
		Size:          int64(size),
		InstalledSize: int64(size) * 3,
		SHA256:        hex.EncodeToString(sum[:]),
		InfoHash:      ih,
		Magnet:        mag,
		Torrent:       tor,
		Description:   "the " + name + " package",
		License:       "MIT",
		Homepage:      "https://example.org/" + name,
		Published:     time.Unix(1700000000, 0).UTC(),
	}
}

func openTemp(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), filepath.Join(tb.TempDir(), "packages.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// insertRaw writes a row without Add's validation, as a hostile publisher could.
func insertRaw(tb testing.TB, db *DB, p Package) {
	tb.Helper()
	_, err := db.sql.Exec(`INSERT INTO packages (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Version, p.Archive, p.Size, p.InstalledSize, p.SHA256, p.InfoHash, p.Magnet, p.Torrent,
		p.Description, p.License, p.Homepage, encodeList(p.Depends), encodeList(p.Conflicts), p.Published.Unix())
	if err != nil {
		tb.Fatal(err)
	}
}

func mustMeta(tb testing.TB, db *DB) Meta {
	tb.Helper()
	m, err := db.Meta(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func ids(pkgs []Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.ID())
	}
	return out
}
