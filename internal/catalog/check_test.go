package catalog

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

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// withInfo replaces p's torrent by one with info, keeping InfoHash and Magnet
// consistent with it, so that only the info itself is wrong.
func withInfo(t *testing.T, p *Package, info metainfo.Info) {
	t.Helper()
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(info)}
	p.Torrent = bencode.MustMarshal(mi)
	h := mi.HashInfoBytes()
	p.InfoHash = h.HexString()
	p.Magnet = mi.Magnet(&h, &info).String()
}

// withURLs makes p's torrent name trackers trackers (a tier each) and
// webSeeds web seeds.
func withURLs(t *testing.T, p *Package, trackers, webSeeds int) {
	t.Helper()
	info := infoOf(t, *p)
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(info)}
	for i := range trackers {
		mi.AnnounceList = append(mi.AnnounceList, []string{fmt.Sprintf("http://127.0.0.1:%d/announce", 1000+i)})
	}
	for i := range webSeeds {
		mi.UrlList = append(mi.UrlList, fmt.Sprintf("http://127.0.0.1:%d/packages/", 2000+i))
	}
	p.Torrent = bencode.MustMarshal(mi)
}

func infoOf(t *testing.T, p Package) metainfo.Info {
	t.Helper()
	mi, err := metainfo.Load(strings.NewReader(string(p.Torrent)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestCheckRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		mutate  func(t *testing.T, p *Package)
		field   string // the field the error must name
		wantErr error
	}{
		{"size mismatch", func(t *testing.T, p *Package) { p.Size++ }, "size:", ErrInvalid},
		{"zero size", func(t *testing.T, p *Package) { p.Size = 0 }, "size:", ErrInvalid},
		{"negative installed size", func(t *testing.T, p *Package) { p.InstalledSize = -1 }, "installed_size:", ErrInvalid},
		{"zero installed size", func(t *testing.T, p *Package) { p.InstalledSize = 0 }, "installed_size: 0, want > 0", ErrInvalid},
		{"wrong infohash", func(t *testing.T, p *Package) { p.InfoHash = strings.Repeat("ab", 20) }, "infohash:", ErrInvalid},
		{"uppercase infohash", func(t *testing.T, p *Package) { p.InfoHash = strings.ToUpper(p.InfoHash) }, "infohash:", ErrInvalid},
		{"uppercase sha256", func(t *testing.T, p *Package) { p.SHA256 = strings.ToUpper(p.SHA256) }, "sha256:", ErrInvalid},
		{"short sha256", func(t *testing.T, p *Package) { p.SHA256 = p.SHA256[:63] }, "sha256:", ErrInvalid},
		{"non-hex sha256", func(t *testing.T, p *Package) { p.SHA256 = "g" + p.SHA256[1:] }, "sha256:", ErrInvalid},
		{"torrent garbage", func(t *testing.T, p *Package) { p.Torrent = []byte("<html>not bencode</html>") }, "torrent:", ErrInvalid},
		{"torrent trailing bytes", func(t *testing.T, p *Package) { p.Torrent = append(p.Torrent, 'x') }, "torrent:", ErrInvalid},
		{"torrent huge string length", func(t *testing.T, p *Package) { p.Torrent = []byte("d4:info99999999:xe") }, "torrent:", ErrInvalid},
		{"torrent without info", func(t *testing.T, p *Package) { p.Torrent = []byte("d8:announce3:urle") }, "torrent:", ErrInvalid},
		{"archive name mismatch", func(t *testing.T, p *Package) { p.Archive = "foo-1.0.1.tar.zst" }, "archive:", ErrInvalid},
		{"bad name", func(t *testing.T, p *Package) { p.Name = "-foo"; p.Archive = "-foo-1.0.0.tar.zst" }, "name:", ErrInvalid},
		{"name with slash", func(t *testing.T, p *Package) { p.Name = "a/b"; p.Archive = "a/b-1.0.0.tar.zst" }, "name:", ErrInvalid},
		{"name too long", func(t *testing.T, p *Package) {
			p.Name = strings.Repeat("a", 129)
			p.Archive = p.Name + "-1.0.0.tar.zst"
		}, "name:", ErrInvalid},
		{"loose version", func(t *testing.T, p *Package) { p.Version = "1.0"; p.Archive = "foo-1.0.tar.zst" }, "version:", ErrInvalid},
		{"v-prefixed version", func(t *testing.T, p *Package) { p.Version = "v1.0.0"; p.Archive = "foo-v1.0.0.tar.zst" }, "version:", ErrInvalid},
		{"magnet of another torrent", func(t *testing.T, p *Package) {
			p.Magnet = "magnet:?xt=urn:btih:" + strings.Repeat("cd", 20)
		}, "magnet:", ErrInvalid},
		{"magnet garbage", func(t *testing.T, p *Package) { p.Magnet = "http://example.org/" }, "magnet:", ErrInvalid},
		{"torrent names another file", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.Name = "evil.tar.zst"
			withInfo(t, p, info)
		}, "torrent:", ErrInvalid},
		{"torrent length differs", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.Length++
			withInfo(t, p, info)
		}, "size:", ErrInvalid},
		{"multi-file torrent", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.Length = 0
			info.Files = []metainfo.FileInfo{{Length: p.Size, Path: []string{p.Archive}}}
			withInfo(t, p, info)
		}, "torrent:", ErrInvalid},
		{"too few piece hashes", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.Pieces = info.Pieces[:20]
			withInfo(t, p, info)
		}, "torrent:", ErrInvalid},
		{"zero piece length", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.PieceLength = 0
			withInfo(t, p, info)
		}, "torrent:", ErrInvalid},
		// An attacker's run: 2^40 crashed install and mirror (a piece
		// allocated whole); 1 byte made millions of pieces.
		{"huge piece length", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.PieceLength, info.Pieces = 1<<40, info.Pieces[:20] // one piece: the count matches
			withInfo(t, p, info)
		}, "torrent: piece length 1099511627776, want a power of two", ErrInvalid},
		{"piece length below a block", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.PieceLength = 8 << 10
			var err error
			if info.Pieces, err = metainfo.GeneratePieces(bytes.NewReader(archiveBytes("foo", "1.0.0", "", int(p.Size))), info.PieceLength, nil); err != nil {
				t.Fatal(err)
			}
			withInfo(t, p, info)
		}, "torrent: piece length 8192,", ErrInvalid},
		{"piece length not a power of two", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.PieceLength, info.Pieces = 300<<10, info.Pieces[:20]
			withInfo(t, p, info)
		}, "torrent: piece length 307200,", ErrInvalid},
		// An attacker's run: 2.9 million pieces of 16 KiB took a mirror
		// to 4.5 GB at every round.
		{"too many pieces", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.PieceLength = MinPieceLength
			info.Length = (MaxPieces + 1) * MinPieceLength
			info.Pieces = make([]byte, (MaxPieces+1)*metainfo.HashSize)
			p.Size = info.Length
			withInfo(t, p, info)
		}, "torrent: 65537 pieces of 16384 bytes, at most 65536 (pieces of at least 32768 bytes for a file of 1073758208)", ErrInvalid},
		// An attacker's run: a description of 200 MB cost a mirror 8.5 s
		// of CPU at every round.
		{"description too long", func(t *testing.T, p *Package) { p.Description = strings.Repeat("x", MaxTextLen+1) }, "description: 65537 bytes, at most 65536", ErrInvalid},
		{"homepage too long", func(t *testing.T, p *Package) { p.Homepage = strings.Repeat("x", MaxTextLen+1) }, "homepage: 65537 bytes", ErrInvalid},
		{"too many depends", func(t *testing.T, p *Package) {
			for i := range MaxDeps + 1 {
				p.Depends = append(p.Depends, fmt.Sprintf("lib%d", i))
			}
		}, "depends: 257 entries, at most 256", ErrInvalid},
		{"conflict too long", func(t *testing.T, p *Package) { p.Conflicts = []string{"x " + strings.Repeat("1", 1100)} }, "conflicts: entry 1 is 1102 bytes", ErrInvalid},
		{"too many trackers", func(t *testing.T, p *Package) {
			withURLs(t, p, MaxTrackers+1, 0)
		}, "torrent: 33 trackers and 0 web seeds, at most 32 and 32", ErrInvalid},
		{"too many web seeds", func(t *testing.T, p *Package) {
			withURLs(t, p, 1, MaxWebSeeds+1)
		}, "torrent: 1 trackers and 33 web seeds", ErrInvalid},
		{"v2 torrent", func(t *testing.T, p *Package) {
			info := infoOf(t, *p)
			info.MetaVersion = 2
			withInfo(t, p, info)
		}, "torrent:", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			good := makePkg(t, "good", "1.0.0", 10)
			if _, err := db.Add(ctx, []Package{good}); err != nil {
				t.Fatal(err)
			}
			p := makePkg(t, "foo", "1.0.0", 300<<10) // two pieces
			tc.mutate(t, &p)
			insertRaw(t, db, p)

			// The client's path: a snapshot opened read-only, then checked.
			snap := filepath.Join(t.TempDir(), "packages.db")
			if err := db.Snapshot(ctx, snap); err != nil {
				t.Fatal(err)
			}
			ro, err := OpenReadOnly(ctx, snap)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			err = ro.Check(ctx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Check err = %v, want %v", err, tc.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, p.ID()+": "+tc.field) {
				t.Errorf("Check err = %q, want it to name %q and field %q", msg, p.ID(), tc.field)
			}
			// The publisher refuses the same row.
			if _, err := openTemp(t).Add(ctx, []Package{p}); !errors.Is(err, ErrInvalid) {
				t.Errorf("Add accepted the bad row: %v", err)
			}
		})
	}
}

// Rows that add refuses but that a catalog signed before may hold pass
// the clients' check: refusing one would refuse the whole catalog at every
// sync, and the resolver leaves such a version out with a reason (see the
// comment in validatePackage).
func TestCheckKeepsRowsTheResolverDeclines(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, depends, conflicts string }{
		{"depends on itself", `["foo >=1"]`, `[]`},
		{"conflicts with itself", `[]`, `["foo"]`},
		{"a constraint no version meets", `["good >=2, <1"]`, `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			if _, err := db.Add(ctx, []Package{makePkg(t, "good", "1.0.0", 10), makePkg(t, "foo", "1.0.0", 10)}); err != nil {
				t.Fatal(err)
			}
			mustExec(t, db.sql, `UPDATE packages SET depends = ?, conflicts = ? WHERE name = 'foo'`, tc.depends, tc.conflicts)
			if err := db.Check(ctx); err != nil {
				t.Fatalf("Check = %v, want the catalog accepted", err)
			}
		})
	}
}

func TestCheckRejectsTables(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *DB)
		want   string
	}{
		{"names differing in case", func(t *testing.T, db *DB) {
			insertRaw(t, db, makePkg(t, "Good", "2.0.0", 10))
		}, "package name differs only in case"},
		{"depends not JSON", func(t *testing.T, db *DB) {
			mustExec(t, db.sql, `UPDATE packages SET depends = 'libbar'`)
		}, "good@1.0.0: depends:"},
		{"conflicts not a list of strings", func(t *testing.T, db *DB) {
			mustExec(t, db.sql, `UPDATE packages SET conflicts = '[1]'`)
		}, "good@1.0.0: conflicts:"},
		{"negative serial", func(t *testing.T, db *DB) {
			mustExec(t, db.sql, `UPDATE meta SET serial = -5`)
		}, "serial -5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			if _, err := db.Add(ctx, []Package{makePkg(t, "good", "1.0.0", 10)}); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, db)
			err := db.Check(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// snapshotBytes returns the bytes of a small, good snapshot.
func snapshotBytes(tb testing.TB) []byte {
	tb.Helper()
	ctx := context.Background()
	db := openTemp(tb)
	p := makePkg(tb, "foo", "1.0.0", 10)
	p.Depends = []string{"bar ^1"}
	if _, err := db.Add(ctx, []Package{p, makePkg(tb, "bar", "1.2.3", 20)}); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "snap.db")
	if err := db.Snapshot(ctx, path); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sqliteWith builds a SQLite file by running stmts on a fresh catalog (or an
// empty database when fresh is false) and returns its bytes.
func sqliteWith(t *testing.T, fresh bool, stmts ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.db")
	var sdb *sql.DB
	if fresh {
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		sdb = db.sql
	} else {
		var err error
		if sdb, err = sql.Open("sqlite", path); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stmts {
		mustExec(t, sdb, s)
	}
	sdb.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenReadOnlyBadFiles(t *testing.T) {
	ctx := context.Background()
	good := snapshotBytes(t)
	tests := []struct {
		name    string
		content []byte // nil: no file at all
		wantErr error
		want    string
	}{
		{"missing file", nil, os.ErrNotExist, "no such file"},
		{"empty file", []byte{}, ErrNotCatalog, "empty file"},
		{"short SQLite header", []byte("SQLite format 3\x00\x10"), ErrNotCatalog, "too short"},
		{"garbage", []byte("\x00\x01\x02garbage bytes that are long enough to fill a SQLite header, which is one hundred bytes long, yes"), ErrNotCatalog, "not a SQLite database"},
		{"HTML page", []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>The proxy got an invalid response.</p></body></html>\n"), ErrNotCatalog, "not a SQLite database"},
		{"header only", good[:100], ErrNotCatalog, "truncated"},
		{"truncated to half", good[:len(good)/2], ErrNotCatalog, "truncated"},
		{"one byte short", good[:len(good)-1], ErrNotCatalog, "truncated"},
		{"padded", append(append([]byte{}, good...), make([]byte, 4096)...), ErrNotCatalog, "truncated"},
		{"empty SQLite database", sqliteWith(t, false, `CREATE TABLE t (x)`), ErrNotCatalog, "no meta table"},
		{"other application's database", sqliteWith(t, false, `CREATE TABLE packages (name TEXT)`), ErrNotCatalog, "no meta table"},
		{"future schema version", sqliteWith(t, true, `UPDATE meta SET schema_version = 3`), ErrSchema, "schema version 3"},
		{"no meta row", sqliteWith(t, true, `DELETE FROM meta`), ErrNotCatalog, "no meta row"},
		{"extra view", sqliteWith(t, true, `CREATE VIEW v AS SELECT 1`), ErrNotCatalog, `unexpected schema object view "v"`},
		{"extra trigger", sqliteWith(t, true, `CREATE TRIGGER tr AFTER INSERT ON packages BEGIN SELECT 1; END`), ErrNotCatalog, `unexpected schema object trigger "tr"`},
		{"missing index", sqliteWith(t, true, `DROP INDEX packages_lower_name`), ErrNotCatalog, `missing schema object index "packages_lower_name"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "packages.db")
			if tc.content != nil {
				if err := os.WriteFile(path, tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			db, err := OpenReadOnly(ctx, path)
			if err == nil {
				db.Close()
				t.Fatal("OpenReadOnly succeeded")
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v containing %q", err, tc.wantErr, tc.want)
			}
			if errors.Is(tc.wantErr, ErrNotCatalog) && !strings.Contains(err.Error(), "not a catalog: "+path) {
				t.Errorf("err = %v, want it to say \"not a catalog\" and name the file", err)
			}
		})
	}
}

func TestOpenRefusesNonCatalog(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		content []byte
		wantErr error
	}{
		{"HTML page", []byte("<html><body>hello</body></html>" + strings.Repeat(" ", 100)), ErrNotCatalog},
		{"future schema version", sqliteWith(t, true, `UPDATE meta SET schema_version = 7`), ErrSchema},
		{"other application's database", sqliteWith(t, false, `CREATE TABLE t (x)`), ErrNotCatalog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "packages.db")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			db, err := Open(ctx, path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != string(tc.content) {
				t.Error("Open modified the file it refused")
			}
		})
	}
}

// FuzzOpenCheck feeds arbitrary bytes to the client's path for a downloaded
// catalog: OpenReadOnly, Check and the queries must fail cleanly, never panic.
func FuzzOpenCheck(f *testing.F) {
	good := snapshotBytes(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("<html><body>502</body></html>"))
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "packages.db")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := OpenReadOnly(ctx, path)
		if err != nil {
			return
		}
		defer db.Close()
		checkErr := db.Check(ctx)
		_, _ = db.Meta(ctx)
		all, allErr := db.All(ctx)
		_, _ = db.Search(ctx, "o")
		for _, p := range all {
			_, _ = db.Versions(ctx, p.Name)
			_, _ = db.Get(ctx, p.Name, p.Version)
		}
		if checkErr == nil && allErr != nil {
			t.Errorf("Check passed but All failed: %v", allErr)
		}
		if checkErr == nil {
			for _, p := range all {
				if _, err := validatePackage(p); err != nil {
					t.Errorf("Check passed a bad row: %v", err)
				}
			}
		}
	})
}

// TestPrintable: the start of a bad file or body shown in an error keeps
// printable ASCII and turns everything else, terminal escapes included, to '.'.
func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<html>", "<html>"},
		{"\x1b[31mred\x1b[0m", ".[31mred.[0m"},
		{"SQLite format 3\x00", "SQLite format 3."},
		{"caf\xc3\xa9\n\t\x7f", "caf....."},
		{"", ""},
	} {
		if got := Printable([]byte(c.in)); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
