package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// withTrackers makes p's torrent name the trackers from, from+1, ...,
// from+n-1 (a tier each); the info, and so the infohash, stay.
func withTrackers(t *testing.T, p *Package, from, n int) {
	t.Helper()
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(infoOf(t, *p))}
	for i := from; i < from+n; i++ {
		mi.AnnounceList = append(mi.AnnounceList, []string{fmt.Sprintf("http://127.0.0.1:%d/announce", 10000+i)})
	}
	p.Torrent = bencode.MustMarshal(mi)
}

// A catalog's trackers are bounded over all its rows, not only per row:
// 20 rows of 32 distinct trackers each (every row within MaxTrackers)
// made a mirror send 47 announce GETs a second to third parties (an
// attacker's run). Clients and mirrors refuse such a catalog (Check), and
// add refuses to make one.
func TestCatalogTrackersBounded(t *testing.T) {
	ctx := context.Background()
	type span struct{ from, n int } // one row's trackers
	repeat := func(rows int, f func(i int) span) []span {
		out := make([]span, rows)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name string
		rows []span
		bad  int // the row that takes the catalog over, -1 for none
	}{
		{"one tracker for every row", repeat(20, func(int) span { return span{0, 1} }), -1},
		{"32 trackers, the same in every row", repeat(20, func(int) span { return span{0, 32} }), -1},
		{"64 distinct over two rows", []span{{0, 32}, {32, 32}}, -1},
		{"65 distinct over three rows", []span{{0, 32}, {32, 32}, {64, 1}}, 2},
		{"20 rows of 32 distinct each", repeat(20, func(i int) span { return span{32 * i, 32} }), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pkgs []Package
			for i, s := range tc.rows {
				p := makePkg(t, fmt.Sprintf("pkg%02d", i), "1.0.0", 10)
				withTrackers(t, &p, s.from, s.n)
				pkgs = append(pkgs, p)
			}
			want := ""
			if tc.bad >= 0 {
				want = fmt.Sprintf("%s: torrent: tracker %q makes %d distinct trackers in the catalog, at most %d",
					pkgs[tc.bad].ID(), fmt.Sprintf("http://127.0.0.1:%d/announce", 10000+MaxCatalogTrackers), MaxCatalogTrackers+1, MaxCatalogTrackers)
			}
			check := func(what string, err error) {
				t.Helper()
				switch {
				case want == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want)):
					t.Errorf("%s = %v, want ErrInvalid saying %q", what, err, want)
				}
			}

			// A hostile publisher's catalog, as clients and mirrors check it.
			raw := openTemp(t)
			for _, p := range pkgs {
				insertRaw(t, raw, p)
			}
			check("Check", raw.Check(ctx))

			// The publisher adds the rows one at a time (announce_urls
			// changed between adds): the add that would go over is refused,
			// and the catalog stays within the bound.
			// The catalog is sealed (as a publisher's is once published),
			// and Add bounds it with the seal's trackers, not by reading
			// every torrent; the seal follows each add.
			db := openTemp(t)
			if err := db.CheckPublishable(ctx); err != nil {
				t.Fatal(err)
			}
			for i, p := range pkgs {
				_, err := db.Add(ctx, []Package{p})
				if i == tc.bad {
					check("Add "+p.ID(), err)
					break
				}
				if err != nil {
					t.Fatalf("Add %s: %v", p.ID(), err)
				}
				if !sealed(t, db) {
					t.Fatalf("Add %s left the catalog unsealed", p.ID())
				}
			}
			check("Add of them all at once", func() error { _, err := openTemp(t).Add(ctx, pkgs); return err }())
			if err := db.Check(ctx); err != nil {
				t.Errorf("the catalog add made is refused: %v", err)
			}
		})
	}
}

// sealed reports whether db's seal holds for the file as it is.
func sealed(t *testing.T, db *DB) bool {
	t.Helper()
	st, ok, err := db.readStamp()
	if err != nil {
		t.Fatal(err)
	}
	s := db.readSeal(st)
	return ok && s != nil && s.Refused == ""
}

// A row removed takes its trackers out of the seal's count, and only
// those no other row names: the bound Add keeps stays Check's.
func TestSealTrackersFollowRemove(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	if err := db.CheckPublishable(ctx); err != nil {
		t.Fatal(err)
	}
	a, b, c := makePkg(t, "a", "1.0.0", 10), makePkg(t, "b", "1.0.0", 10), makePkg(t, "c", "1.0.0", 10)
	withTrackers(t, &a, 0, 32)
	withTrackers(t, &b, 16, 32) // 48 distinct, 16 shared with a
	withTrackers(t, &c, 100, 16)
	if _, err := db.Add(ctx, []Package{a, b}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(ctx, []Package{c}); err != nil {
		t.Fatal(err)
	}
	d := makePkg(t, "d", "1.0.0", 10)
	withTrackers(t, &d, 200, 16) // 80 with a, b and c
	if _, err := db.Add(ctx, []Package{d}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add of a 65th tracker = %v, want ErrInvalid", err)
	}
	if _, err := db.Remove(ctx, "a", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if !sealed(t, db) {
		t.Fatal("Remove left the catalog unsealed")
	}
	// a's 16 own trackers are gone, the 16 it shared with b stay: 48 + 16 = 64.
	if _, err := db.Add(ctx, []Package{d}); err != nil {
		t.Fatalf("Add within the bound once a is removed: %v", err)
	}
	e := makePkg(t, "e", "1.0.0", 10)
	withTrackers(t, &e, 16, 1) // one of b's: still 64
	if _, err := db.Add(ctx, []Package{e}); err != nil {
		t.Fatalf("Add of a tracker b names: %v", err)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// The seal holds only for the file as the catalog package wrote it: a
// write of another connection (sqlite3 by hand) leaves it behind, and
// the next CheckPublishable checks the catalog again; a refusal is
// remembered until the file changes.
func TestSealLeftBehindByOtherWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Add(ctx, []Package{makePkg(t, "a", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	if sealed(t, db) {
		t.Fatal("sealed before any check")
	}
	if err := db.CheckPublishable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BumpSerial(ctx); err != nil {
		t.Fatal(err)
	}
	if !sealed(t, db) {
		t.Fatal("BumpSerial left the catalog unsealed")
	}
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`UPDATE packages SET installed_size = 0`); err != nil {
		t.Fatal(err)
	}
	if sealed(t, db) {
		t.Fatal("still sealed after another connection's write")
	}
	want := "a@1.0.0: installed_size: 0, want > 0"
	for range 2 { // the second from the seal's memory of the refusal
		if err := db.CheckPublishable(ctx); !errors.Is(err, ErrUnpublishable) || !strings.Contains(err.Error(), want) {
			t.Fatalf("CheckPublishable = %v, want ErrUnpublishable saying %q", err, want)
		}
	}
	// A refused catalog is not sealed for Add either.
	if _, err := db.Add(ctx, []Package{makePkg(t, "b", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	if sealed(t, db) {
		t.Fatal("Add sealed a refused catalog")
	}
	if _, err := other.Exec(`UPDATE packages SET installed_size = 30`); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckPublishable(ctx); err != nil {
		t.Fatalf("CheckPublishable once mended: %v", err)
	}
	if !sealed(t, db) {
		t.Fatal("not sealed once checked")
	}
}
