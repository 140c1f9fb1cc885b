package catalog

import (
	"context"
	"database/sql"
	"maps"

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

// MaxCatalogWebSeeds bounds the distinct web seed URLs over all the
// catalog's torrents, as MaxCatalogTrackers bounds the trackers, and for
// the same reason: MaxWebSeeds holds one row, and every client that
// downloads a package (and a mirror, which downloads them all) holds its
// torrent's web seeds and fetches from them in turn when peers do not
// serve it, so rows of 32 distinct web seeds each would have them send
// their requests to as many third parties as the rows name. A publisher's
// torrents name one web seed per server (public_url and a mirror's,
// config.MaxServers); 64 leaves room for them changing over the
// catalog's life.
const MaxCatalogWebSeeds = 64

// rowURLs is one row's trackers (every tier's, in order) and web seeds.
type rowURLs struct{ trackers, webSeeds []string }

// torrentURLs is the trackers and web seeds a torrent names.
func torrentURLs(mi *metainfo.MetaInfo) rowURLs {
	return rowURLs{trackers: announceURLs(mi), webSeeds: mi.UrlList}
}

// urlSet counts how often the rows name each URL of one kind.
type urlSet map[string]int

// catalogURLs is the distinct trackers and web seeds of a catalog's
// torrents, at most MaxCatalogTrackers and MaxCatalogWebSeeds of them,
// each with how often the rows name it (so that a row removed takes its
// URLs away only when no other row names them; see seal).
type catalogURLs struct {
	Trackers urlSet `json:"trackers,omitempty"`
	WebSeeds urlSet `json:"web_seeds,omitempty"`
}

func newCatalogURLs() *catalogURLs {
	return &catalogURLs{Trackers: urlSet{}, WebSeeds: urlSet{}}
}

func (s *catalogURLs) clone() *catalogURLs {
	return &catalogURLs{Trackers: maps.Clone(s.Trackers), WebSeeds: maps.Clone(s.WebSeeds)}
}

// add records r, p's URLs, and refuses the one that takes the catalog
// over its bound, naming p.
func (s *catalogURLs) add(p Package, r rowURLs) error {
	if err := s.Trackers.add(p, r.trackers, "tracker", MaxCatalogTrackers, "each is announced to by every seeder"); err != nil {
		return err
	}
	return s.WebSeeds.add(p, r.webSeeds, "web seed", MaxCatalogWebSeeds, "each is fetched from by every client that downloads from web seeds")
}

// remove takes away the URLs add recorded for a row.
func (s *catalogURLs) remove(r rowURLs) {
	s.Trackers.remove(r.trackers)
	s.WebSeeds.remove(r.webSeeds)
}

// add records urls, of the kind named, and refuses the one that takes the
// set over max, naming p and why the bound is there.
func (s urlSet) add(p Package, urls []string, kind string, max int, why string) error {
	for _, u := range urls {
		if s[u] > 0 {
			s[u]++
			continue
		}
		if len(s) == max {
			return invalid(p, "torrent", "%s %q makes %d distinct %ss in the catalog, at most %d over all its torrents (%s)",
				kind, u, len(s)+1, kind, max, why)
		}
		s[u] = 1
	}
	return nil
}

// remove takes away urls that add recorded.
func (s urlSet) remove(urls []string) {
	for _, u := range urls {
		if s[u]--; s[u] <= 0 {
			delete(s, u)
		}
	}
}

// heldURLs is the trackers and web seeds of the rows tx sees, for Add to
// bound the catalog with its new rows as Check will, when the catalog is not sealed
// (after a write that was not Add's, RemoveAll's or BumpSerial's): it
// reads and decodes every row's torrent, 0.38 s for 10,000 rows here.
func heldURLs(ctx context.Context, tx *sql.Tx) (*catalogURLs, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, version, torrent FROM packages ORDER BY name, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s := newCatalogURLs()
	for rows.Next() {
		var p Package
		if err := rows.Scan(&p.Name, &p.Version, &p.Torrent); err != nil {
			return nil, err
		}
		var mi metainfo.MetaInfo
		if err := decodeBencode(p.Torrent, &mi); err != nil {
			return nil, invalid(p, "torrent", "not bencoded metainfo: %v", err)
		}
		if err := s.add(p, torrentURLs(&mi)); err != nil {
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
