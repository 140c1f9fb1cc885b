package publish_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalog/catalogtest"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// handEdit runs a statement on the working catalog as sqlite3 would: a
// connection of its own, outside the catalog package.
func handEdit(t *testing.T, path, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// manyTrackers is p's torrent announcing to n trackers, its info kept.
func manyTrackers(t *testing.T, p catalog.Package, n int) []byte {
	t.Helper()
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(p.Torrent, &mi); err != nil {
		t.Fatal(err)
	}
	mi.Announce, mi.AnnounceList = "", nil
	for i := range n {
		mi.AnnounceList = append(mi.AnnounceList, []string{fmt.Sprintf("http://127.0.0.1:%d/announce", 20000+i)})
	}
	return bencode.MustMarshal(mi)
}

// A catalog.db edited by hand into one that clients refuse is never signed,
// by any of the publisher's paths: each fails naming the row and the field
// as a client's sync would, and the pair published before stays, verifying
// and passing the clients' check. An edit clients accept (a row depending
// on itself: the resolver explains it at install, sync takes it) is
// published.
func TestHandEditedCatalogIsNotSigned(t *testing.T) {
	ctx := context.Background()
	good := catalogtest.Row(t, "hello", "1.0.0")
	tests := []struct {
		name string
		stmt string
		args []any
		want string // "" when clients accept the edit
	}{
		{"installed_size 0", `UPDATE packages SET installed_size = 0 WHERE name = 'hello'`, nil,
			"hello@1.0.0: installed_size: 0, want > 0"},
		{"bad version", `UPDATE packages SET version = '1.0' WHERE name = 'hello'`, nil,
			`hello@1.0: version: "1.0" is not strict SemVer`},
		{"torrent that does not parse", `UPDATE packages SET torrent = x'6c6c6c' WHERE name = 'hello'`, nil,
			"hello@1.0.0: torrent: not bencoded metainfo"},
		{"too many trackers", `UPDATE packages SET torrent = ? WHERE name = 'hello'`, []any{manyTrackers(t, good, catalog.MaxTrackers+1)},
			fmt.Sprintf("hello@1.0.0: torrent: %d trackers and 0 web seeds, at most %d and %d", catalog.MaxTrackers+1, catalog.MaxTrackers, catalog.MaxWebSeeds)},
		{"meta valid_until", `UPDATE meta SET valid_until = created`, nil,
			"meta: valid_until"},
		{"depends on itself", `UPDATE packages SET depends = '["hello >=1"]' WHERE name = 'hello'`, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPublisher(t)
			if err := os.MkdirAll(p.Paths.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			db, err := catalog.Open(ctx, p.Paths.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Add(ctx, []catalog.Package{good, catalogtest.Row(t, "other", "1.0.0")}); err != nil {
				t.Fatal(err)
			}
			key, err := signing.LoadOrCreate(p.Paths.SigningKey())
			if err != nil {
				t.Fatal(err)
			}
			if err := publish.Publish(ctx, db, key, p.Paths.PublicDir()); err != nil {
				t.Fatal(err)
			}
			db.Close()
			pubDB, pubSig := readPair(t, p)

			handEdit(t, p.Paths.Catalog(), tc.stmt, tc.args...)
			pkgDir := writePkg(t, filepath.Join(t.TempDir(), "newpkg"), "version: 1.0.0\n", "x")
			kept := func(what string, err error) {
				t.Helper()
				if tc.want == "" {
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s = %v, want an error saying %q", what, err, tc.want)
				}
				db, sig := readPair(t, p)
				if !bytes.Equal(db, pubDB) || !bytes.Equal(sig, pubSig) {
					t.Fatalf("%s replaced the published pair", what)
				}
				clientAccepts(t, p, key.Public())
			}
			_, err = p.Add(ctx, []string{pkgDir})
			kept("Add", err)
			if tc.want != "" {
				if _, err := os.Stat(filepath.Join(p.Paths.Archives(), "newpkg-1.0.0.tar.zst")); err == nil {
					t.Errorf("a refused Add stored its archive")
				}
			}
			p.Config.CatalogValidFor = config.Duration(time.Hour) // shortened: due at once
			_, _, err = p.Renew(ctx)
			kept("Renew", err)
			_, err = p.Rotate(ctx)
			kept("Rotate", err)
			handEdit(t, p.Paths.Catalog(), `UPDATE meta SET serial = serial + 1`) // the pair is stale: repaired
			kept("Repair", p.Repair(ctx))
			_, err = p.Remove(ctx, []catalog.Ref{{Name: "other", Version: "1.0.0"}})
			if strings.HasPrefix(tc.want, "meta:") {
				// Remove stamps the meta row afresh, which mends it.
				if err != nil {
					t.Errorf("Remove: %v", err)
				}
			} else {
				kept("Remove of another row", err)
			}
			if tc.want == "" || strings.HasPrefix(tc.want, "meta:") {
				clientAccepts(t, p, nil)
				return
			}
			// Withdrawing the row named is a way out.
			id := strings.SplitN(tc.want, ":", 2)[0]
			name, version, _ := strings.Cut(id, "@")
			if _, err := p.Remove(ctx, []catalog.Ref{{Name: name, Version: version}}); err != nil {
				t.Fatalf("Remove of %s: %v", id, err)
			}
			clientAccepts(t, p, nil)
		})
	}
}

// readPair reads the published catalog and signature.
func readPair(t *testing.T, p *publish.Publisher) (db, sig []byte) {
	t.Helper()
	db, err := os.ReadFile(filepath.Join(p.Paths.PublicDir(), publish.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	sig, err = os.ReadFile(filepath.Join(p.Paths.PublicDir(), publish.SigFile))
	if err != nil {
		t.Fatal(err)
	}
	return db, sig
}

// clientAccepts checks the published pair as a client's sync does: the
// signature (with pub, or the publisher's current key when nil), then
// catalog.Check.
func clientAccepts(t *testing.T, p *publish.Publisher, pub signing.PublicKey) {
	t.Helper()
	if pub == nil {
		k, err := signing.Load(p.Paths.SigningKey())
		if err != nil {
			t.Fatal(err)
		}
		pub = k.Public()
	}
	db, sig := readPair(t, p)
	if err := signing.Verify(pub, db, sig); err != nil {
		t.Fatalf("published pair: %v", err)
	}
	ro, err := catalog.OpenReadOnly(context.Background(), filepath.Join(p.Paths.PublicDir(), publish.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Check(context.Background()); err != nil {
		t.Fatalf("the published catalog is one clients refuse: %v", err)
	}
}

// TestRestoredBackupPublishedAboveServedSerial: a backup of catalog.db
// restored over a catalog published since is published under a serial
// above the published one, by Repair (a running server's next poll) and
// by Add, with the backup's rows. It was published under its own lower
// serial, which every client that had synced the newer one refused as a
// rollback. A catalog.db lost and made anew is refused instead: what is
// added to it would withdraw every package published.
func TestRestoredBackupPublishedAboveServedSerial(t *testing.T) {
	ctx := context.Background()
	for _, via := range []string{"Repair", "Add"} {
		t.Run(via, func(t *testing.T) {
			p := newPublisher(t)
			backup := backupBefore(t, p, "second", "third")
			// Each serial at least the one after the one before (more if a
			// second passed: TimeSerial), so the backup's is below the
			// published one.
			old, pub := fileMeta(t, backup).Serial, publishedMeta(t, p).Serial
			if pub < old+2 {
				t.Fatalf("published serial %d before the restore, want at least the backup's %d + 2", pub, old)
			}
			// cp and mv, as an operator restores it.
			next := p.Paths.Catalog() + ".restoring"
			copyFile(t, backup, next)
			if err := os.Rename(next, p.Paths.Catalog()); err != nil {
				t.Fatal(err)
			}
			var raised [3]int64
			p.OnRaise = func(from, published, to int64) { raised = [3]int64{from, published, to} }
			rows := 1
			switch via {
			case "Repair":
				if err := p.Repair(ctx); err != nil {
					t.Fatal(err)
				}
			case "Add":
				dir := writePkg(t, filepath.Join(t.TempDir(), "fourth"), "version: 1.0.0\n", "4")
				if _, err := p.Add(ctx, []string{dir}); err != nil {
					t.Fatal(err)
				}
				rows = 2 // raised as add opened it, once more with the row
			}
			// Raised to the serial after the published one, or to the
			// time's if a second passed since (TimeSerial).
			if raised[0] != old || raised[1] != pub || raised[2] <= pub {
				t.Errorf("OnRaise told %v, want the backup's %d, the published %d, raised above it", raised, old, pub)
			}
			m := publishedMeta(t, p)
			if via == "Repair" && m.Serial != raised[2] || via == "Add" && m.Serial <= raised[2] {
				t.Errorf("published serial %d after the restore, want %d (above it for an add), above the %d clients hold", m.Serial, raised[2], pub)
			}
			if n := len(publishedPackages(t, p)); n != rows {
				t.Errorf("published %d packages, want the backup's %d", n, rows)
			}
			clientAccepts(t, p, nil)
		})
	}
}

// backupBefore publishes a package "first", copies catalog.db aside (the
// backup it returns), then publishes each of later, one serial each.
func backupBefore(t *testing.T, p *publish.Publisher, later ...string) string {
	t.Helper()
	ctx := context.Background()
	first := writePkg(t, filepath.Join(t.TempDir(), "first"), "version: 1.0.0\n", "1")
	if _, err := p.Add(ctx, []string{first}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	copyFile(t, p.Paths.Catalog(), backup)
	for i, name := range later {
		dir := writePkg(t, filepath.Join(t.TempDir(), name), "version: 1.0.0\n", fmt.Sprint(i))
		if _, err := p.Add(ctx, []string{dir}); err != nil {
			t.Fatal(err)
		}
	}
	return backup
}

// publishedMeta and publishedPackages read the published catalog.
func publishedMeta(t *testing.T, p *publish.Publisher) catalog.Meta {
	t.Helper()
	return fileMeta(t, filepath.Join(p.Paths.PublicDir(), publish.DBFile))
}

// fileMeta reads the meta of the catalog at path.
func fileMeta(t *testing.T, path string) catalog.Meta {
	t.Helper()
	db, err := catalog.OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Meta(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func publishedPackages(t *testing.T, p *publish.Publisher) []catalog.Package {
	t.Helper()
	db, err := catalog.OpenReadOnly(context.Background(), filepath.Join(p.Paths.PublicDir(), publish.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pkgs, err := db.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestLostCatalogRefused: with catalog.db gone and a catalog published,
// add, remove and repair refuse, naming the published copy to restore from,
// and publish nothing (after the raise above, an add into the catalog
// made anew would have withdrawn every package published).
func TestLostCatalogRefused(t *testing.T) {
	ctx := context.Background()
	p := newPublisher(t)
	first := writePkg(t, filepath.Join(t.TempDir(), "first"), "version: 1.0.0\n", "1")
	if _, err := p.Add(ctx, []string{first}); err != nil {
		t.Fatal(err)
	}
	pubDB, pubSig := readPair(t, p)
	first1 := publishedMeta(t, p).Serial
	if err := os.Remove(p.Paths.Catalog()); err != nil {
		t.Fatal(err)
	}
	second := writePkg(t, filepath.Join(t.TempDir(), "second"), "version: 1.0.0\n", "2")
	_, addErr := p.Add(ctx, []string{second})
	_, rmErr := p.Remove(ctx, []catalog.Ref{{Name: "first", Version: "1.0.0"}})
	for what, err := range map[string]error{"Add": addErr, "Remove": rmErr, "Repair": p.Repair(ctx)} {
		if !errors.Is(err, publish.ErrCatalogLost) || !strings.Contains(err.Error(), "cp "+filepath.Join(p.Paths.PublicDir(), publish.DBFile)+" "+p.Paths.Catalog()) {
			t.Errorf("%s: %v, want the catalog lost and how to restore it", what, err)
		}
	}
	if db, sig := readPair(t, p); !bytes.Equal(db, pubDB) || !bytes.Equal(sig, pubSig) {
		t.Fatal("the published pair changed")
	}
	// Nothing made it anew: an empty one left behind was overwritten in
	// place by the restore, which the running server did not see.
	if _, err := os.Lstat(p.Paths.Catalog()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("catalog.db after the refusals: %v, want none", err)
	}
	// Restored from the published copy as the error says: add works.
	copyFile(t, filepath.Join(p.Paths.PublicDir(), publish.DBFile), p.Paths.Catalog())
	if _, err := p.Add(ctx, []string{second}); err != nil {
		t.Fatal(err)
	}
	if m := publishedMeta(t, p); m.Serial <= first1 || len(publishedPackages(t, p)) != 2 {
		t.Errorf("published serial %d with %d packages, want above %d with 2", m.Serial, len(publishedPackages(t, p)), first1)
	}
}

// A backup restored below the published serial and edited into a catalog
// clients refuse is refused by every publisher path with the file left as
// it was: the check comes before the serial is raised. The raise was
// committed first, so that a refused catalog.db had been changed all the
// same. Withdrawing the row named raises and removes in one step.
func TestRefusedCatalogNotRaised(t *testing.T) {
	ctx := context.Background()
	for _, via := range []string{"Repair", "Adopt", "Add", "Rotate", "Renew"} {
		t.Run(via, func(t *testing.T) {
			p := newPublisher(t)
			backup := backupBefore(t, p, "second")
			old, pub := fileMeta(t, backup).Serial, publishedMeta(t, p).Serial
			handEdit(t, backup, `UPDATE packages SET installed_size = 0`)
			if err := os.Rename(backup, p.Paths.Catalog()); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(p.Paths.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			p.OnRaise = func(from, published, to int64) { t.Errorf("raised %d to %d (published %d)", from, to, published) }
			switch via {
			case "Repair":
				err = p.Repair(ctx)
			case "Adopt":
				err = p.Adopt(ctx)
			case "Add":
				_, err = p.Add(ctx, []string{writePkg(t, filepath.Join(t.TempDir(), "third"), "version: 1.0.0\n", "3")})
			case "Rotate":
				_, err = p.Rotate(ctx)
			case "Renew":
				p.Config.CatalogValidFor = config.Duration(time.Hour) // shortened: due at once
				_, _, err = p.Renew(ctx)
			}
			if !errors.Is(err, catalog.ErrUnpublishable) || !strings.Contains(err.Error(), "first@1.0.0: installed_size: 0") {
				t.Fatalf("%s = %v, want the row clients refuse named", via, err)
			}
			if after, err := os.ReadFile(p.Paths.Catalog()); err != nil || !bytes.Equal(after, before) {
				t.Errorf("%s changed the refused catalog.db (%v)", via, err)
			}
			if m := publishedMeta(t, p); m.Serial != pub {
				t.Errorf("published serial %d, want %d still", m.Serial, pub)
			}

			var raised [3]int64
			p.OnRaise = func(from, published, to int64) { raised = [3]int64{from, published, to} }
			if _, err := p.Remove(ctx, []catalog.Ref{{Name: "first", Version: "1.0.0"}}); err != nil {
				t.Fatalf("Remove of the row named: %v", err)
			}
			if raised[0] != old || raised[1] != pub || raised[2] <= pub {
				t.Errorf("OnRaise told %v, want the backup's %d, the published %d, raised above it", raised, old, pub)
			}
			if m := publishedMeta(t, p); m.Serial != raised[2] || len(publishedPackages(t, p)) != 0 {
				t.Errorf("published serial %d with %d packages, want %d with none", m.Serial, len(publishedPackages(t, p)), raised[2])
			}
			clientAccepts(t, p, nil)
		})
	}
}
