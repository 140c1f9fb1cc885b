package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// urlKind is one kind of URL a torrent names that the catalog bounds over
// all its rows.
type urlKind struct {
	name string // as the error says it
	max  int
	url  func(i int) string
	// with makes p's torrent name the URLs from, from+1, ..., from+n-1 of
	// the kind; the info, and so the infohash, stay.
	with func(t *testing.T, p *Package, from, n int)
}

var urlKinds = []urlKind{
	{"tracker", MaxCatalogTrackers, trackerURL, withTrackers},
	{"web seed", MaxCatalogWebSeeds, webSeedURL, withWebSeeds},
}

func trackerURL(i int) string { return fmt.Sprintf("http://127.0.0.1:%d/announce", 10000+i) }
func webSeedURL(i int) string { return fmt.Sprintf("http://127.0.0.1:%d/packages/", 10000+i) }

// withTrackers makes p's torrent name the trackers from, from+1, ...,
// from+n-1 (a tier each).
func withTrackers(t *testing.T, p *Package, from, n int) {
	t.Helper()
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(infoOf(t, *p))}
	for i := from; i < from+n; i++ {
		mi.AnnounceList = append(mi.AnnounceList, []string{trackerURL(i)})
	}
	p.Torrent = bencode.MustMarshal(mi)
}

// withWebSeeds makes p's torrent name the web seeds from, from+1, ...,
// from+n-1 (BEP 19 url-list).
func withWebSeeds(t *testing.T, p *Package, from, n int) {
	t.Helper()
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(infoOf(t, *p))}
	for i := from; i < from+n; i++ {
		mi.UrlList = append(mi.UrlList, webSeedURL(i))
	}
	p.Torrent = bencode.MustMarshal(mi)
}

// A catalog's trackers are bounded over all its rows, not only per row:
// 20 rows of 32 distinct trackers each (every row within MaxTrackers)
// made a mirror send 47 announce GETs a second to third parties (an
// attacker's run). Clients and mirrors refuse such a catalog (Check), and
// add refuses to make one. Its web seeds likewise: they had no such bound.
func TestCatalogURLsBounded(t *testing.T) {
	repeat := func(rows int, f func(i int) urlSpan) []urlSpan {
		out := make([]urlSpan, rows)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name string
		rows []urlSpan
		bad  int // the row that takes the catalog over, -1 for none
	}{
		{"one for every row", repeat(20, func(int) urlSpan { return urlSpan{0, 1} }), -1},
		{"32, the same in every row", repeat(20, func(int) urlSpan { return urlSpan{0, 32} }), -1},
		{"64 distinct over two rows", []urlSpan{{0, 32}, {32, 32}}, -1},
		{"65 distinct over three rows", []urlSpan{{0, 32}, {32, 32}, {64, 1}}, 2},
		{"20 rows of 32 distinct each", repeat(20, func(i int) urlSpan { return urlSpan{32 * i, 32} }), 2},
	}
	for _, kind := range urlKinds {
		for _, tc := range tests {
			t.Run(kind.name+"s, "+tc.name, func(t *testing.T) {
				testCatalogURLsBounded(t, kind, tc.rows, tc.bad)
			})
		}
	}
}

// urlSpan is one row's URLs of a kind: from, from+1, ..., from+n-1.
type urlSpan struct{ from, n int }

// maxURL is one past the highest URL number rows name.
func maxURL(rows []urlSpan) int {
	n := 0
	for _, r := range rows {
		n = max(n, r.from+r.n)
	}
	return n
}

// testCatalogURLsBounded checks a catalog of rows naming the URLs of kind
// given, bad the row that takes it over the bound (-1 for none).
func testCatalogURLsBounded(t *testing.T, kind urlKind, rows []urlSpan, bad int) {
	ctx := context.Background()
	var pkgs []Package
	for i, s := range rows {
		p := makePkg(t, fmt.Sprintf("pkg%02d", i), "1.0.0", 10)
		kind.with(t, &p, s.from, s.n)
		pkgs = append(pkgs, p)
	}
	want := ""
	if bad >= 0 {
		want = fmt.Sprintf("%s: torrent: %s %q makes %d distinct %ss in the catalog, at most %d",
			pkgs[bad].ID(), kind.name, kind.url(kind.max), kind.max+1, kind.name, kind.max)
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

	// A hostile publisher's catalog, as clients and mirrors check it:
	// one past the trackers' bound is refused. One past the web seeds'
	// is accepted (a catalog an older dist-server signed must stay
	// syncable), with the web seeds past the first 64 for the client to
	// leave out; the publisher's own check before it signs refuses it.
	raw := openTemp(t)
	for _, p := range pkgs {
		insertRaw(t, raw, p)
	}
	got, err := raw.Inspect(ctx)
	if kind.name != "web seed" {
		check("Check", err)
	} else {
		if err != nil {
			t.Errorf("Check refused a catalog past the web seeds' bound: %v", err)
		}
		// The test's URLs are numbered from 0 in the order the rows
		// name them: those from the 65th on are left out.
		var want []string
		for i := kind.max; bad >= 0 && i < maxURL(rows); i++ {
			want = append(want, kind.url(i))
		}
		if !slices.Equal(got.DroppedWebSeeds, want) || got.WebSeeds != max(maxURL(rows), 0) {
			t.Errorf("Inspect = %d web seeds, dropped %q; want %d, dropped %q", got.WebSeeds, got.DroppedWebSeeds, maxURL(rows), want)
		}
		check("CheckPublishable", raw.CheckPublishable(ctx))
	}

	// The publisher adds the rows one at a time (announce_urls or
	// public_url changed between adds): the add that would go over is
	// refused, and the catalog stays within the bound.
	// The catalog is sealed (as a publisher's is once published), and Add
	// bounds it with the seal's URLs, not by reading every torrent; the
	// seal follows each add.
	db := openTemp(t)
	if err := db.CheckPublishable(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkgs {
		_, err := db.Add(ctx, []Package{p})
		if i == bad {
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

// A row removed takes its trackers and web seeds out of the seal's
// count, and only those no other row names: the bounds Add keeps stay
// Check's.
func TestSealURLsFollowRemove(t *testing.T) {
	for _, kind := range urlKinds {
		t.Run(kind.name+"s", func(t *testing.T) { testSealURLsFollowRemove(t, kind) })
	}
}

func testSealURLsFollowRemove(t *testing.T, kind urlKind) {
	ctx := context.Background()
	db := openTemp(t)
	if err := db.CheckPublishable(ctx); err != nil {
		t.Fatal(err)
	}
	a, b, c := makePkg(t, "a", "1.0.0", 10), makePkg(t, "b", "1.0.0", 10), makePkg(t, "c", "1.0.0", 10)
	kind.with(t, &a, 0, 32)
	kind.with(t, &b, 16, 32) // 48 distinct, 16 shared with a
	kind.with(t, &c, 100, 16)
	if _, err := db.Add(ctx, []Package{a, b}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(ctx, []Package{c}); err != nil {
		t.Fatal(err)
	}
	d := makePkg(t, "d", "1.0.0", 10)
	kind.with(t, &d, 200, 16) // 80 with a, b and c
	if _, err := db.Add(ctx, []Package{d}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add of a 65th %s = %v, want ErrInvalid", kind.name, err)
	}
	if _, err := db.Remove(ctx, "a", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if !sealed(t, db) {
		t.Fatal("Remove left the catalog unsealed")
	}
	// a's 16 own URLs are gone, the 16 it shared with b stay: 48 + 16 = 64.
	if _, err := db.Add(ctx, []Package{d}); err != nil {
		t.Fatalf("Add within the bound once a is removed: %v", err)
	}
	e := makePkg(t, "e", "1.0.0", 10)
	kind.with(t, &e, 16, 1) // one of b's: still 64
	if _, err := db.Add(ctx, []Package{e}); err != nil {
		t.Fatalf("Add of a %s b names: %v", kind.name, err)
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

// A client leaves the web seeds past the catalog's first 64 out of the
// torrents it reads (DropWebSeeds): each row keeps those among the first
// 64, in its url-list's order, and its infohash.
func TestDropWebSeeds(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	var pkgs []Package
	for i := range 4 { // 4 rows of 32 distinct web seeds: 128
		p := makePkg(t, fmt.Sprintf("pkg%02d", i), "1.0.0", 10)
		withWebSeeds(t, &p, 32*i, 32)
		insertRaw(t, db, p)
		pkgs = append(pkgs, p)
	}
	c, err := db.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.WebSeeds != 128 || len(c.DroppedWebSeeds) != 64 || c.DroppedWebSeeds[0] != webSeedURL(64) {
		t.Fatalf("Inspect = %d web seeds, dropped %d from %q; want 128, 64 from %q", c.WebSeeds, len(c.DroppedWebSeeds), c.DroppedWebSeeds[0], webSeedURL(64))
	}
	db.DropWebSeeds(c.DroppedWebSeeds)
	all, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range all {
		var mi metainfo.MetaInfo
		if err := bencode.Unmarshal(p.Torrent, &mi); err != nil {
			t.Fatalf("%s: %v", p.ID(), err)
		}
		var want []string
		for j := 32 * i; j < min(32*i+32, 64); j++ {
			want = append(want, webSeedURL(j))
		}
		if !slices.Equal([]string(mi.UrlList), want) {
			t.Errorf("%s: url-list %q, want %q", p.ID(), mi.UrlList, want)
		}
		if mi.HashInfoBytes().HexString() != pkgs[i].InfoHash {
			t.Errorf("%s: the torrent's infohash changed", p.ID())
		}
	}
	got, err := db.Get(ctx, "pkg03", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(got.Torrent, &mi); err != nil || len(mi.UrlList) != 0 {
		t.Errorf("Get pkg03: url-list %q (%v), want none", mi.UrlList, err)
	}
}
