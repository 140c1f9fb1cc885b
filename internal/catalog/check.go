package catalog

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// nameRE is the package name rule of DESIGN.md §3. It is repeated here rather
// than imported so the catalog stays a leaf package.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

const maxNameLen = 128

// Bounds of a row's free text and lists. A signed catalog whose hello had
// a description of 200 MB was taken: a mirror then spent 8.5 s of CPU and
// up to 1.1 GB at every round, a client's list 840 MB (an attacker's
// run). The manifest has the same bounds (manifest.MaxText, MaxDeps), so
// add refuses what clients would.
const (
	MaxTextLen = 64 << 10 // description, license, homepage
	MaxDeps    = 256      // entries of depends, of conflicts
	maxDepLen  = 1 << 10  // one entry, "name constraint"
)

// What a catalog torrent may hold. A signed catalog is the publisher's
// word, yet a primary a mirror follows, or a publisher's stolen key, must
// not crash or choke its clients: a piece length of 2^40 made the web seed
// fetch allocate one piece and die of "out of memory" (install and mirror
// alike), one of 1 byte made 3 million pieces of a 3 MB archive and an
// install of 3.1 GB, and 30,000 trackers a dry run of 30,000 probes at
// once (an attacker's run). dist-server makes pieces of 64 KiB to 4 MiB
// (torrentmeta/pieces.go), a tracker per announce_urls entry and a web
// seed per server (config.MaxServers each).
//
// The pieces are bounded too: the BitTorrent library keeps about 1.1 KB
// for each piece of a torrent it adds, and a signed row of 48 GiB in
// pieces of 16 KiB (2.9 million, a 58 MB torrent) took a mirror to 4.5 GB
// and a full core at every round, and an install of 1 million pieces to
// 1 GB (an attacker's run). 65,536 pieces hold about 75 MB; dist-server's
// piece length doubles past 256 GiB to stay within them up to 4 TiB
// (torrentmeta's classes), and clients' own limits (libtorrent's
// max_pieces) are far above.
const (
	MinPieceLength = 16 << 10 // BitTorrent's block: no client asks for less
	MaxPieceLength = 64 << 20
	MaxPieces      = 1 << 16
	MaxTrackers    = 32 // URLs over every tier
	MaxWebSeeds    = 32
)

// checkPieceLength says what is wrong with a torrent's piece length, nil
// when it is a power of two from MinPieceLength to MaxPieceLength (as
// BitTorrent clients make them).
func checkPieceLength(n int64) error {
	if n < MinPieceLength || n > MaxPieceLength || n&(n-1) != 0 {
		return fmt.Errorf("piece length %d, want a power of two from %d (16 KiB) to %d (64 MiB)", n, MinPieceLength, MaxPieceLength)
	}
	return nil
}

// minPieceLengthFor is the smallest piece length that cuts size bytes
// into at most MaxPieces pieces.
func minPieceLengthFor(size int64) int64 {
	n := int64(MinPieceLength)
	for n < MaxPieceLength && (size+n-1)/n > MaxPieces {
		n *= 2
	}
	return n
}

var (
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	infoHashRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// Check verifies a catalog read from the network: a known schema version, a
// sound SQLite file (PRAGMA integrity_check), the meta row, names unique
// ignoring case, every row self-consistent (see validatePackage), and at
// most MaxCatalogTrackers trackers over all rows. The error names the row
// (name@version) and the field that is wrong. A catalog naming more than
// MaxCatalogWebSeeds web seeds passes: the client leaves out those past
// them (Inspect says which; see MaxCatalogWebSeeds for why).
//
// The publisher runs the same check on every snapshot it would sign that
// did not come from a sealed catalog (SnapshotChecked), and refuses the
// web seeds past the bound as well.
func (db *DB) Check(ctx context.Context) error {
	_, err := db.Inspect(ctx)
	return err
}

// Checked is what Check learns that a client acts on.
type Checked struct {
	// WebSeeds counts the distinct web seeds the torrents name.
	WebSeeds int
	// DroppedWebSeeds are those past the first MaxCatalogWebSeeds, in
	// the order the rows (by name and version) and their url-lists name
	// them: the client leaves them out of its downloads (DropWebSeeds).
	DroppedWebSeeds []string
}

// Inspect is Check, returning what it learnt.
func (db *DB) Inspect(ctx context.Context) (Checked, error) {
	c, err := db.check(ctx)
	if err != nil {
		return Checked{}, err
	}
	return Checked{WebSeeds: len(c.urls.WebSeeds) + len(c.dropped), DroppedWebSeeds: c.dropped}, nil
}

// checked is what check learns of a catalog.
type checked struct {
	urls *catalogURLs // within the bounds (for the seal)
	// dropped are the web seeds past MaxCatalogWebSeeds, and overWebSeeds
	// the error naming the row that took the catalog past it, which the
	// publisher refuses to sign (checkSnapshot).
	dropped      []string
	overWebSeeds error
}

// check is Check, returning the catalog's trackers and web seeds (for
// the seal) and those past the bound.
func (db *DB) check(ctx context.Context) (checked, error) {
	if err := db.verifySchema(ctx, db.sql); err != nil {
		return checked{}, fmt.Errorf("check catalog: %w", err)
	}
	if err := db.integrityCheck(ctx); err != nil {
		return checked{}, fmt.Errorf("check catalog: %w", err)
	}
	m, err := readMeta(ctx, db.sql)
	if err != nil {
		return checked{}, fmt.Errorf("check catalog: meta: %w", err)
	}
	if m.Serial < 0 {
		return checked{}, fmt.Errorf("check catalog: meta: serial %d is negative", m.Serial)
	}
	if !m.ValidUntil.After(m.Created) {
		return checked{}, fmt.Errorf("check catalog: meta: valid_until %s is not after created %s",
			m.ValidUntil.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	}

	rows, err := db.sql.QueryContext(ctx, `SELECT `+columns+` FROM packages ORDER BY name, version`)
	if err != nil {
		return checked{}, fmt.Errorf("check catalog: %w", err)
	}
	defer rows.Close()
	spelling := map[string]string{} // lower(name) -> name as first seen
	c := checked{urls: newCatalogURLs()}
	dropped := map[string]bool{}
	for n := 1; rows.Next(); n++ {
		p, err := scanPackage(rows)
		if err != nil {
			return checked{}, fmt.Errorf("check catalog: row %d: %w", n, err)
		}
		r, err := validatePackage(p)
		if err != nil {
			return checked{}, fmt.Errorf("check catalog: %w", err)
		}
		if err := c.urls.Trackers.add(p, r.trackers, "tracker", MaxCatalogTrackers, trackersWhy); err != nil {
			return checked{}, fmt.Errorf("check catalog: %w", err)
		}
		for _, u := range c.urls.WebSeeds.keep(r.webSeeds, MaxCatalogWebSeeds) {
			if c.overWebSeeds == nil {
				c.overWebSeeds = fmt.Errorf("check catalog: %w", overBound(p, "web seed", u, MaxCatalogWebSeeds, webSeedsWhy))
			}
			if !dropped[u] {
				dropped[u] = true
				c.dropped = append(c.dropped, u)
			}
		}
		lower := strings.ToLower(p.Name)
		if first, ok := spelling[lower]; ok && first != p.Name {
			return checked{}, fmt.Errorf("check catalog: %w: %s: name: %q, catalog also has %q", ErrNameCase, p.ID(), p.Name, first)
		}
		spelling[lower] = p.Name
	}
	if err := rows.Err(); err != nil {
		return checked{}, fmt.Errorf("check catalog: %w", err)
	}
	return c, nil
}

// integrityCheck runs SQLite's own check of the file's structure, which
// also holds the STRICT column types and NOT NULL constraints.
func (db *DB) integrityCheck(ctx context.Context) error {
	rows, err := db.sql.QueryContext(ctx, `PRAGMA integrity_check(10)`)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("%w: %s: integrity check: %s", ErrNotCatalog, db.path, strings.Join(msgs, "; "))
	}
	return nil
}

// invalid builds the error for one bad field of one row.
func invalid(p Package, field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s: %s", ErrInvalid, p.ID(), field, fmt.Sprintf(format, args...))
}

// validatePackage checks that one row is self-consistent: the name and
// version rules, the archive name, sizes, hex digests, that the torrent is a
// v1 single-file torrent of the archive whose infohash is InfoHash, and that
// the magnet link carries that infohash. It returns the torrent's trackers
// and web seeds, for the catalog's bounds (catalogURLs).
func validatePackage(p Package) (urls rowURLs, err error) {
	if len(p.Name) > maxNameLen {
		return rowURLs{}, invalid(p, "name", "%d bytes, at most %d allowed", len(p.Name), maxNameLen)
	}
	if !nameRE.MatchString(p.Name) {
		return rowURLs{}, invalid(p, "name", "%q: want letters, digits and . _ + -, starting with a letter or digit", p.Name)
	}
	if _, err := semver.StrictNewVersion(p.Version); err != nil {
		return rowURLs{}, invalid(p, "version", "%q is not strict SemVer: %v", p.Version, err)
	}
	if want := p.Name + "-" + p.Version + ".tar.zst"; p.Archive != want {
		return rowURLs{}, invalid(p, "archive", "%q, want %q", p.Archive, want)
	}
	if p.Size <= 0 {
		return rowURLs{}, invalid(p, "size", "%d, want > 0", p.Size)
	}
	// Every archive holds its manifest.yaml, so its files have bytes; and
	// extraction stops at this size, which 0 turned off: a signed row of 0
	// had a 66 KB archive write 2 GiB into the prefix (an attacker's run).
	if p.InstalledSize <= 0 {
		return rowURLs{}, invalid(p, "installed_size", "%d, want > 0 (every archive holds its manifest.yaml, and extraction stops at this size)", p.InstalledSize)
	}
	if !sha256RE.MatchString(p.SHA256) {
		return rowURLs{}, invalid(p, "sha256", "%q is not 64 lowercase hex digits", p.SHA256)
	}
	if !infoHashRE.MatchString(p.InfoHash) {
		return rowURLs{}, invalid(p, "infohash", "%q is not 40 lowercase hex digits", p.InfoHash)
	}
	urls, err = checkTorrent(p)
	if err != nil {
		return rowURLs{}, err
	}
	mag, err := metainfo.ParseMagnetUri(p.Magnet)
	if err != nil {
		return rowURLs{}, invalid(p, "magnet", "%v", err)
	}
	if got := mag.InfoHash.HexString(); got != p.InfoHash {
		return rowURLs{}, invalid(p, "magnet", "infohash %s, row says %s", got, p.InfoHash)
	}
	for _, f := range []struct{ name, text string }{{"description", p.Description}, {"license", p.License}, {"homepage", p.Homepage}} {
		if len(f.text) > MaxTextLen {
			return rowURLs{}, invalid(p, f.name, "%d bytes, at most %d", len(f.text), MaxTextLen)
		}
	}
	// Only the size of depends and conflicts is checked, not what they
	// mean. A row that depends on or conflicts with itself, or whose
	// constraint no version can ever meet, is refused by dist-server add
	// (manifest.Parse), but a catalog signed before add refused them (an
	// older server, or a hand edit it signed) holds them, and clients run
	// this check on every sync: refusing the row would refuse the whole
	// file, so every client would lose every update of every package (a
	// key rotation, a security fix) for one version nobody can install.
	// The resolver handles such a row already: it leaves that version out
	// and says why when it is asked for ("app 1.0.0 depends on itself",
	// "the constraint contradicts itself"), as apt leaves out a package
	// whose dependencies cannot be met. So Check refuses what a client
	// cannot work with (paths, sizes, hashes, torrents), and not what it
	// can decline to install.
	for _, l := range []struct {
		name string
		deps []string
	}{{"depends", p.Depends}, {"conflicts", p.Conflicts}} {
		if len(l.deps) > MaxDeps {
			return rowURLs{}, invalid(p, l.name, "%d entries, at most %d", len(l.deps), MaxDeps)
		}
		for i, d := range l.deps {
			if len(d) > maxDepLen {
				return rowURLs{}, invalid(p, l.name, "entry %d is %d bytes, at most %d", i+1, len(d), maxDepLen)
			}
		}
	}
	return urls, nil
}

func checkTorrent(p Package) (rowURLs, error) {
	if len(p.Torrent) == 0 {
		return rowURLs{}, invalid(p, "torrent", "empty")
	}
	var mi metainfo.MetaInfo
	if err := decodeBencode(p.Torrent, &mi); err != nil {
		return rowURLs{}, invalid(p, "torrent", "not bencoded metainfo: %v", err)
	}
	if len(mi.InfoBytes) == 0 {
		return rowURLs{}, invalid(p, "torrent", "no info dictionary")
	}
	if got := mi.HashInfoBytes().HexString(); got != p.InfoHash {
		return rowURLs{}, invalid(p, "infohash", "%s, torrent's info hashes to %s", p.InfoHash, got)
	}
	var info metainfo.Info
	if err := decodeBencode(mi.InfoBytes, &info); err != nil {
		return rowURLs{}, invalid(p, "torrent", "bad info dictionary: %v", err)
	}
	if info.HasV2() || info.MetaVersion > 1 {
		return rowURLs{}, invalid(p, "torrent", "meta version %d, want a BitTorrent v1 torrent", info.MetaVersion)
	}
	if len(info.Files) != 0 {
		return rowURLs{}, invalid(p, "torrent", "%d files, want a single file", len(info.Files))
	}
	if info.Name != p.Archive || (info.NameUtf8 != "" && info.NameUtf8 != p.Archive) {
		return rowURLs{}, invalid(p, "torrent", "file name %q, want %q", info.BestName(), p.Archive)
	}
	if info.Length != p.Size {
		return rowURLs{}, invalid(p, "size", "%d, torrent's file is %d bytes", p.Size, info.Length)
	}
	if err := checkPieceLength(info.PieceLength); err != nil {
		return rowURLs{}, invalid(p, "torrent", "%v", err)
	}
	urls := torrentURLs(&mi)
	if len(urls.trackers) > MaxTrackers || len(urls.webSeeds) > MaxWebSeeds {
		return rowURLs{}, invalid(p, "torrent", "%d trackers and %d web seeds, at most %d and %d", len(urls.trackers), len(urls.webSeeds), MaxTrackers, MaxWebSeeds)
	}
	want := info.Length / info.PieceLength
	if info.Length%info.PieceLength != 0 {
		want++
	}
	if want > MaxPieces {
		return rowURLs{}, invalid(p, "torrent", "%d pieces of %d bytes, at most %d (pieces of at least %d bytes for a file of %d)",
			want, info.PieceLength, MaxPieces, minPieceLengthFor(info.Length), info.Length)
	}
	if len(info.Pieces)%metainfo.HashSize != 0 || int64(len(info.Pieces)/metainfo.HashSize) != want {
		return rowURLs{}, invalid(p, "torrent", "%d bytes of piece hashes, want %d pieces of %d bytes",
			len(info.Pieces), want, metainfo.HashSize)
	}
	return urls, nil
}

// decodeBencode is bencode.Unmarshal (as metainfo.Load uses it) with a
// string length limit of the input's size: a few bytes from the network must
// not make the decoder allocate its default 128 MiB. It turns any panic in
// the decoder into an error, because the input is untrusted.
func decodeBencode(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	d := bencode.NewDecoder(bytes.NewReader(b))
	d.MaxStrLen = int64(len(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	return d.ReadEOF()
}
