package catalog

import (
	"context"
	"database/sql"
	"maps"
	"slices"

	"github.com/anacrolix/torrent/bencode"
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
//
// One rule, in two halves. The publisher never makes a catalog past the
// bound: Add refuses the package that would take it over, and the
// publisher's own check before it signs (CheckPublishable,
// SnapshotChecked) refuses such a catalog, naming the row. A client
// never refuses one for it (Check, Inspect): the bound came after
// catalogs were signed without it (2e44bcb), and refusing the file at
// sync would make every client lose every later update of every package
// for URLs it can simply leave alone, which is the rule Check keeps for
// rows (d916eca, validatePackage). The client keeps the first
// MaxCatalogWebSeeds distinct web seeds, in the order of the rows (name,
// version) and of each torrent's url-list, and leaves the others out of
// its downloads (Checked.DroppedWebSeeds, DB.DropWebSeeds), which bounds
// what it fetches from just as well.
const MaxCatalogWebSeeds = 64

// Why each bound is there, as its errors say.
const (
	trackersWhy = "each is announced to by every seeder"
	webSeedsWhy = "each is fetched from by every client that downloads from web seeds"
)

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
	if err := s.Trackers.add(p, r.trackers, "tracker", MaxCatalogTrackers, trackersWhy); err != nil {
		return err
	}
	return s.WebSeeds.add(p, r.webSeeds, "web seed", MaxCatalogWebSeeds, webSeedsWhy)
}

// remove takes away the URLs add recorded for a row.
func (s *catalogURLs) remove(r rowURLs) {
	s.Trackers.remove(r.trackers)
	s.WebSeeds.remove(r.webSeeds)
}

// add records urls, of the kind named, and refuses the one that takes the
// set over max, naming p and why the bound is there.
func (s urlSet) add(p Package, urls []string, kind string, max int, why string) error {
	if past := s.keep(urls, max); len(past) > 0 {
		return overBound(p, kind, past[0], max, why)
	}
	return nil
}

// keep records urls as add does, but leaves out those that would take
// the set over max instead of refusing them, and returns them.
func (s urlSet) keep(urls []string, max int) (past []string) {
	for _, u := range urls {
		if s[u] > 0 {
			s[u]++
			continue
		}
		if len(s) == max {
			past = append(past, u)
			continue
		}
		s[u] = 1
	}
	return past
}

// overBound is the error for u, of p, taking the catalog's URLs of the
// kind named over max.
func overBound(p Package, kind, u string, max int, why string) error {
	return invalid(p, "torrent", "%s %q makes %d distinct %ss in the catalog, at most %d over all its torrents (%s)",
		kind, u, max+1, kind, max, why)
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

// DropWebSeeds makes db's reads of packages (Get, Versions, VersionsOf,
// All, Search) leave urls out of their torrents' url-lists: a client's
// catalog names them past MaxCatalogWebSeeds (Checked.DroppedWebSeeds),
// and its downloads use the first MaxCatalogWebSeeds only. The torrent
// is encoded again without them; its info, and so its infohash, stay.
// Call it before any read.
func (db *DB) DropWebSeeds(urls []string) {
	db.dropSeeds = make(map[string]bool, len(urls))
	for _, u := range urls {
		db.dropSeeds[u] = true
	}
}

// trim leaves the web seeds DropWebSeeds named out of p's torrent.
func (db *DB) trim(p *Package) {
	if len(db.dropSeeds) == 0 {
		return
	}
	var mi metainfo.MetaInfo
	if decodeBencode(p.Torrent, &mi) != nil {
		return // Check refused such a row; nothing to leave out
	}
	kept := slices.DeleteFunc(slices.Clone(mi.UrlList), func(u string) bool { return db.dropSeeds[u] })
	if len(kept) == len(mi.UrlList) {
		return
	}
	mi.UrlList = kept
	if b, err := bencode.Marshal(mi); err == nil {
		p.Torrent = b
	}
}

// trimAll is trim of every package of pkgs.
func (db *DB) trimAll(pkgs []Package) {
	for i := range pkgs {
		db.trim(&pkgs[i])
	}
}
