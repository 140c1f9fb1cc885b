package catalog

import (
	"context"
	"errors"
	"fmt"
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
			db := openTemp(t)
			for i, p := range pkgs {
				_, err := db.Add(ctx, []Package{p})
				if i == tc.bad {
					check("Add "+p.ID(), err)
					break
				}
				if err != nil {
					t.Fatalf("Add %s: %v", p.ID(), err)
				}
			}
			check("Add of them all at once", func() error { _, err := openTemp(t).Add(ctx, pkgs); return err }())
			if err := db.Check(ctx); err != nil {
				t.Errorf("the catalog add made is refused: %v", err)
			}
		})
	}
}
