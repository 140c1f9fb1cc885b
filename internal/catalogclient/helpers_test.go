package catalogclient_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// newKey makes a fresh signing key in a temporary directory.
func newKey(t *testing.T) *signing.Key {
	t.Helper()
	k, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// buildCatalog writes a real catalog snapshot at the given serial (>= 1)
// holding one version of each named package, and returns its bytes. salt
// changes the archives' content, so two catalogs of the same names and
// serial differ.
func buildCatalog(t *testing.T, serial int64, salt string, names ...string) []byte {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := catalog.Open(ctx, filepath.Join(dir, "work.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pkgs []catalog.Package
	for _, name := range names {
		archive := name + "-1.0.0.tar.zst"
		path := filepath.Join(dir, archive)
		data := []byte(fmt.Sprintf("archive of %s %s ", name, salt))
		for len(data) < 100<<10 {
			data = append(data, data...)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := torrentmeta.Build(path, "http://127.0.0.1:6969/announce", "")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		pkgs = append(pkgs, catalog.Package{
			Name: name, Version: "1.0.0", Archive: archive,
			Size: int64(len(data)), InstalledSize: int64(len(data)),
			SHA256: hex.EncodeToString(sum[:]), InfoHash: m.InfoHash, Magnet: m.Magnet, Torrent: m.Torrent,
			Description: "the " + name + " package",
		})
	}
	if _, err := db.Add(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "packages.db")
	if err := db.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	// The serial given, not the time's a publisher gives (TimeSerial): the
	// client takes any serial that does not go back.
	return editCatalog(t, b, func(sdb *sql.DB) {
		if _, err := sdb.Exec(`UPDATE meta SET serial = ?`, serial); err != nil {
			t.Fatal(err)
		}
	})
}

// corruptRow makes the first row inconsistent (its size no longer matches
// its torrent) the way a buggy or hostile publisher could, bypassing Add's
// validation, and returns the new file's bytes.
func corruptRow(t *testing.T, db []byte) []byte {
	t.Helper()
	return editCatalog(t, db, func(sdb *sql.DB) {
		if _, err := sdb.Exec(`UPDATE packages SET size = size + 1 WHERE rowid = (SELECT min(rowid) FROM packages)`); err != nil {
			t.Fatal(err)
		}
	})
}

// editCatalog runs edit on a copy of the catalog db, opened with SQL as a
// publisher bypassing Add could, and returns the copy's bytes.
func editCatalog(t *testing.T, db []byte, edit func(*sql.DB)) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edited.db")
	if err := os.WriteFile(path, db, 0o644); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", path) // the driver registered by internal/catalog
	if err != nil {
		t.Fatal(err)
	}
	edit(sdb)
	if err := sdb.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publisher is a real catalog server on 127.0.0.1.
type publisher struct {
	srv *catalogserver.Server
	ts  *httptest.Server
	key *signing.Key
	// connState, when set, sees the server's connections change state:
	// set after the server started, its Config.ConnState was a data race
	// with the server's goroutines (go test -race -count=2).
	connState atomic.Pointer[func(net.Conn, http.ConnState)]
}

// newPublisher starts a catalog server signing with key. wrap, when not
// nil, wraps its handler (to count requests or publish mid-sync).
func newPublisher(t *testing.T, key *signing.Key, wrap func(*publisher, http.Handler) http.Handler) *publisher {
	t.Helper()
	p := &publisher{srv: catalogserver.New(catalogserver.Options{ArchivesDir: t.TempDir()}), key: key}
	p.srv.SetKey(key.Public())
	var h http.Handler = p.srv.Handler()
	if wrap != nil {
		h = wrap(p, h)
	}
	p.ts = httptest.NewUnstartedServer(h)
	p.ts.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if f := p.connState.Load(); f != nil {
			(*f)(c, st)
		}
	}
	p.ts.Start()
	t.Cleanup(p.ts.Close)
	return p
}

// publish serves db, signed with the publisher's key.
func (p *publisher) publish(serial int64, db []byte) {
	p.srv.SetSnapshot(db, p.key.Sign(db), serial, nil)
}
