package catalogclient_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
)

// A catalog whose torrents name more than catalog.MaxCatalogWebSeeds
// distinct web seeds (one an older dist-server signed before the bound)
// is synced, not refused: refusing it cost every client every later
// update. The client leaves the web seeds past the first 64 out of the
// torrents it reads, in the order of the rows and their url-lists, and
// the sync says how many.
func TestSyncDropsWebSeedsPastTheBound(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	// 4 rows of 32 distinct web seeds each (each row within
	// catalog.MaxWebSeeds): 128 over the catalog.
	pub.publish(1, withWebSeeds(t, buildCatalog(t, 1, "", "a", "b", "c", "d"), 32))
	dir := t.TempDir()
	res, err := catalogclient.Sync(ctx, syncOpts(pub.ts.URL, dir, key.Public()))
	if err != nil {
		t.Fatalf("Sync refused the catalog: %v", err)
	}
	if res.WebSeeds != 128 || len(res.DroppedWebSeeds) != 64 || res.DroppedWebSeeds[0] != webSeed(64) {
		t.Fatalf("Sync = %d web seeds, %d dropped; want 128, 64 from %s", res.WebSeeds, len(res.DroppedWebSeeds), webSeed(64))
	}
	// The one warning sync prints for it names the counts.
	if note, want := catalogclient.DroppedWebSeedsNote(res), "name 128 distinct web seeds, more than the 64 a client uses: the 64 past them"; !strings.Contains(note, want) {
		t.Errorf("note %q, want it to say %q", note, want)
	}
	seen := readWebSeeds(t, ctx, dir)
	var want []string
	for i := range catalog.MaxCatalogWebSeeds {
		want = append(want, webSeed(i))
	}
	if !slices.Equal(seen, want) {
		t.Errorf("the torrents read name %d web seeds, want the first %d: %q", len(seen), len(want), seen)
	}
	// The same catalog again (304): nothing new to say.
	if res, err := catalogclient.Sync(ctx, syncOpts(pub.ts.URL, dir, key.Public())); err != nil || res.Updated || len(res.DroppedWebSeeds) != 0 {
		t.Errorf("second sync = %+v, %v; want it unchanged, and no warning again", res, err)
	}
}

func webSeed(i int) string { return fmt.Sprintf("http://127.0.0.1:%d/packages/", 20000+i) }

// withWebSeeds makes every row's torrent of the catalog db name n web
// seeds of its own, numbered on in the order of the rows (by name), as a
// publisher that bypassed Add's bound could, and returns the new bytes.
func withWebSeeds(t *testing.T, db []byte, n int) []byte {
	t.Helper()
	return withWebSeedsNamed(t, db, n, webSeed)
}

// withWebSeedsNamed is withWebSeeds with the i-th web seed named url(i).
func withWebSeedsNamed(t *testing.T, db []byte, n int, url func(int) string) []byte {
	t.Helper()
	return editCatalog(t, db, func(sdb *sql.DB) {
		rows, err := sdb.Query(`SELECT name, torrent FROM packages ORDER BY name, version`)
		if err != nil {
			t.Fatal(err)
		}
		torrents := map[string][]byte{}
		var names []string
		for rows.Next() {
			var name string
			var tb []byte
			if err := rows.Scan(&name, &tb); err != nil {
				t.Fatal(err)
			}
			names, torrents[name] = append(names, name), tb
		}
		rows.Close()
		for i, name := range names {
			var mi metainfo.MetaInfo
			if err := bencode.Unmarshal(torrents[name], &mi); err != nil {
				t.Fatal(err)
			}
			mi.UrlList = nil
			for j := range n {
				mi.UrlList = append(mi.UrlList, url(i*n+j))
			}
			if _, err := sdb.Exec(`UPDATE packages SET torrent = ? WHERE name = ?`, bencode.MustMarshal(mi), name); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The web seeds a client leaves out are left out whatever bytes they
// hold: a URL that is not UTF-8 (a hostile publisher's, which Go's HTTP
// client fetches all the same) went through web-seeds-dropped.json as
// U+FFFD, matched no URL of the torrents read, and every web seed past
// the bound was kept.
func TestDroppedWebSeedsNotUTF8(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	url := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d/\xff/", 20000+i) }
	pub.publish(1, withWebSeedsNamed(t, buildCatalog(t, 1, "", "a", "b", "c", "d"), 32, url))
	dir := t.TempDir()
	if _, err := catalogclient.Sync(ctx, syncOpts(pub.ts.URL, dir, key.Public())); err != nil {
		t.Fatal(err)
	}
	seen := readWebSeeds(t, ctx, dir)
	var want []string
	for i := range catalog.MaxCatalogWebSeeds {
		want = append(want, url(i))
	}
	if !slices.Equal(seen, want) {
		t.Errorf("the torrents read name %d web seeds, want the first %d", len(seen), len(want))
	}
}

// A web-seeds-dropped.json damaged on disk makes the catalog unusable,
// and the next sync installs the catalog again, writing it anew, as the
// error says it does: it found the same catalog held and left the file
// as it was, and every read failed until the publisher signed another.
func TestDamagedDroppedWebSeedsRepairedBySync(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	pub := newPublisher(t, key, nil)
	pub.publish(1, withWebSeeds(t, buildCatalog(t, 1, "", "a", "b", "c", "d"), 32))
	dir := t.TempDir()
	if _, err := catalogclient.Sync(ctx, syncOpts(pub.ts.URL, dir, key.Public())); err != nil {
		t.Fatal(err)
	}
	p, err := catalogclient.Path(dir)
	if err != nil {
		t.Fatal(err)
	}
	dropped := filepath.Join(filepath.Dir(p), "web-seeds-dropped.json")
	if err := os.WriteFile(dropped, []byte("[not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if db, err := catalogclient.Open(ctx, dir); err == nil {
		db.Close()
		t.Fatal("Open read a catalog whose web-seeds-dropped.json is damaged")
	} else if !strings.Contains(err.Error(), "dist-client sync writes it again") {
		t.Errorf("Open: %v, want it to say sync writes the file again", err)
	}
	if _, err := catalogclient.Sync(ctx, syncOpts(pub.ts.URL, dir, key.Public())); err != nil {
		t.Fatal(err)
	}
	if seen := readWebSeeds(t, ctx, dir); len(seen) != catalog.MaxCatalogWebSeeds {
		t.Errorf("after sync, the torrents read name %d web seeds, want %d", len(seen), catalog.MaxCatalogWebSeeds)
	}
}

// readWebSeeds opens the catalog synced into dir and returns the web
// seeds its torrents name, in the order of the rows.
func readWebSeeds(t *testing.T, ctx context.Context, dir string) []string {
	t.Helper()
	db, err := catalogclient.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, p := range all {
		var mi metainfo.MetaInfo
		if err := bencode.Unmarshal(p.Torrent, &mi); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, mi.UrlList...)
	}
	return seen
}
