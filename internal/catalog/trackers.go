package catalog

import (
	"context"
	"database/sql"

	"github.com/anacrolix/torrent/metainfo"
)

// MaxCatalogTrackers bounds the distinct tracker URLs over all the
// catalog's torrents. MaxTrackers holds one row, not the catalog: 20 rows
// of 32 distinct trackers each made a mirror seeding them send 47 announce
// GETs a second to third parties (an attacker's run), and every client
// that seeds does the same. A publisher's torrents name its announce_urls
// (config.MaxTrackers, 8, at a time; 1 to 4 in practice); 64 leaves room
// for the announce_urls changing several times over the catalog's life,
// and bounds a mirror's announces at 64 trackers, whatever the rows.
const MaxCatalogTrackers = 64

// trackerSet is the distinct tracker URLs of a catalog's torrents, at most
// MaxCatalogTrackers of them, each with how often the rows name it (so
// that a row removed takes its trackers away only when no other row names
// them; see seal).
type trackerSet map[string]int

// add records p's trackers, and refuses the one that takes the catalog
// over MaxCatalogTrackers, naming p.
func (s trackerSet) add(p Package, trackers []string) error {
	for _, u := range trackers {
		if s[u] > 0 {
			s[u]++
			continue
		}
		if len(s) == MaxCatalogTrackers {
			return invalid(p, "torrent", "tracker %q makes %d distinct trackers in the catalog, at most %d over all its torrents (each is announced to by every seeder)",
				u, len(s)+1, MaxCatalogTrackers)
		}
		s[u] = 1
	}
	return nil
}

// remove takes away the trackers add recorded for a row.
func (s trackerSet) remove(trackers []string) {
	for _, u := range trackers {
		if s[u]--; s[u] <= 0 {
			delete(s, u)
		}
	}
}

// heldTrackers is the trackers of the rows tx sees, for Add to bound the
// catalog with its new rows as Check will, when the catalog is not sealed
// (after a write that was not Add's, RemoveAll's or BumpSerial's): it
// reads and decodes every row's torrent, 0.38 s for 10,000 rows here.
func heldTrackers(ctx context.Context, tx *sql.Tx) (trackerSet, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, version, torrent FROM packages ORDER BY name, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s := trackerSet{}
	for rows.Next() {
		var p Package
		if err := rows.Scan(&p.Name, &p.Version, &p.Torrent); err != nil {
			return nil, err
		}
		var mi metainfo.MetaInfo
		if err := decodeBencode(p.Torrent, &mi); err != nil {
			return nil, invalid(p, "torrent", "not bencoded metainfo: %v", err)
		}
		if err := s.add(p, announceURLs(&mi)); err != nil {
			return nil, err
		}
	}
	return s, rows.Err()
}

// announceURLs is a torrent's trackers, every tier's in order.
func announceURLs(mi *metainfo.MetaInfo) (urls []string) {
	for _, tier := range mi.UpvertedAnnounceList() {
		urls = append(urls, tier...)
	}
	return urls
}
