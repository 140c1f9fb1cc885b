// Package torrentmeta builds the BitTorrent v1 metainfo for a package
// archive: a single-file torrent with a piece length chosen by size, the
// server's announce URL and, optionally, a BEP 19 web seed. The output is
// byte-stable for the same archive and URLs (no creation date), so the same
// package always has the same infohash and the same .torrent bytes.
package torrentmeta

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/redact"
)

// Meta is what the catalog records about a torrent.
type Meta struct {
	Torrent  []byte // bencoded metainfo
	InfoHash string // lowercase hex
	Magnet   string
}

// PieceLength picks a piece length for an archive of size bytes. Small
// pieces cost CPU (16 KiB pieces ran 2.5x slower per byte than 256 KiB
// here); large pieces slow a capped swarm down, because a peer can share a
// piece only once it has all of it and verified it (a 256 KiB piece took
// 2 s to arrive at 128 KiB/s, the seeder's share per peer in the benchmark).
// These classes keep a package under about 2048 pieces. 32 KiB pieces for
// archives up to 64 MiB were measured with bench-net (1 MiB/s links,
// F=16 MiB, rows interleaved with the 64 KiB of today) and not kept: at
// 100 ms they were faster (N=32 1.29-1.32 x the bound against 1.31-1.37 x,
// publisher egress 1.13-1.15 F against 1.19-1.24 F; N=8 1.15 against
// 1.20), at 20 ms no faster (1.23-1.27 against 1.23-1.26) and sent more
// (1.12-1.16 F against 1.09-1.10 F); they cost 10-25 % more CPU (bench-swarm
// N=16 7.0 s against 6.5 s), which at N=64 on the lab's two cores tipped
// the row over: 3.0 x the bound, the clients falling back to the web seed
// (64 KiB pieces: 1.57 x).
func PieceLength(size int64) int64 {
	return classes[classIndex(classes, size)].pieceLength
}

// Build makes the metainfo for the archive at path with one tracker (see
// BuildTrackers); announce may be empty.
func Build(path, announce, webSeed string, seeders ...netip.AddrPort) (Meta, error) {
	var trackers []string
	if announce != "" {
		trackers = []string{announce}
	}
	return BuildTrackers(path, trackers, webSeed, seeders...)
}

// BuildTrackers makes the metainfo for the archive at path. trackers, in
// order, become the announce-list with a tier each (BEP 12), the first
// also the announce key: clients try the tiers in order, so every one
// announces to the first tracker that answers and the others are backups
// (trackers of one tier would be shuffled by BEP 12 clients, splitting the
// swarm between trackers that share nothing). webSeed, when not empty, is
// the base URL under which the archive is served (BEP 19: for a single-file
// torrent the URL names the file itself). The magnet link names each of
// seeders as a peer address (BEP 9 "x.pe"): the publisher's seeder, which
// clients then reach whatever the tracker says.
func BuildTrackers(path string, trackers []string, webSeed string, seeders ...netip.AddrPort) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, fmt.Errorf("torrent for %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Meta{}, fmt.Errorf("torrent for %s: %w", path, err)
	}
	pieces, err := NewPieceHasher().Finish(context.Background(), f, st.Size())
	if err != nil {
		return Meta{}, fmt.Errorf("torrent for %s: %w", path, err)
	}
	return FromPieces(filepath.Base(path), st.Size(), pieces, trackers, webSeed, seeders...)
}

// FromPieces makes the metainfo of a file called name of size bytes from
// its piece hashes (PieceHasher), with the trackers, web seed and seeders of
// BuildTrackers: for the same file the bytes are BuildTrackers'.
func FromPieces(name string, size int64, pieces Pieces, trackers []string, webSeed string, seeders ...netip.AddrPort) (Meta, error) {
	for _, u := range append(trackers[:len(trackers):len(trackers)], webSeed) {
		if err := checkPublic(u); err != nil {
			return Meta{}, fmt.Errorf("torrent for %s: %w", name, err)
		}
	}
	pl := PieceLength(size)
	if pieces.Length != pl || int64(len(pieces.Hashes)) != (size+pl-1)/pl*sha1.Size {
		return Meta{}, fmt.Errorf("torrent for %s: %d piece hashes of %d bytes do not cover %d bytes in pieces of %d", name, len(pieces.Hashes)/sha1.Size, pieces.Length, size, pl)
	}
	info := metainfo.Info{
		Name:        name,
		Length:      size,
		PieceLength: pl,
	}
	if size > 0 { // an empty file has no "pieces" key at all, as the library writes it
		info.Pieces = pieces.Hashes
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		return Meta{}, fmt.Errorf("torrent for %s: %w", name, err)
	}
	mi := metainfo.MetaInfo{InfoBytes: infoBytes, CreatedBy: "distpac"}
	if len(trackers) > 0 {
		mi.Announce = trackers[0]
		for _, u := range trackers {
			mi.AnnounceList = append(mi.AnnounceList, []string{u})
		}
	}
	if webSeed != "" {
		mi.UrlList = []string{webSeed}
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return Meta{}, fmt.Errorf("torrent for %s: %w", name, err)
	}
	ih := mi.HashInfoBytes()
	mag := mi.Magnet(&ih, &info)
	for _, a := range seeders {
		if mag.Params == nil {
			mag.Params = url.Values{}
		}
		mag.Params.Add(peerParam, a.String())
	}
	return Meta{
		Torrent:  buf.Bytes(),
		InfoHash: ih.HexString(),
		Magnet:   mag.String(),
	}, nil
}

// peerParam is BEP 9's magnet parameter for a peer address.
const peerParam = "x.pe"

// MaxSeeders bounds the peer addresses taken from one magnet link.
const MaxSeeders = 8

// checkPublic refuses a URL with a user or password: a torrent's
// announce list, url-list and magnet link are read by every client and
// anyone a torrent is given to. server.yaml refuses them where it is
// read (public_url, announce_url); this holds for every other way a
// torrent is made.
func checkPublic(s string) error {
	if !redact.HasUser(s) {
		return nil
	}
	return fmt.Errorf("%q holds a user or password, which the torrent would publish", redact.URL(s))
}

// Credentials lists the URLs of a torrent's announce list and url-list
// (its trackers and web seeds) that hold a user or password, each masked
// (redact.URL), in the torrent's order. checkPublic keeps them out of
// every torrent made now; a torrent an older dist-server made of a
// public_url with a password still carries it, for every client to read,
// until its package is removed and added again.
func Credentials(mi *metainfo.MetaInfo) []string {
	var out []string
	for _, u := range append(slices.Concat(mi.UpvertedAnnounceList()...), mi.UrlList...) {
		if redact.HasUser(u) {
			out = append(out, redact.URL(u))
		}
	}
	return out
}

// Seeders returns the peer addresses (x.pe) of a magnet link that are
// literal IP:port pairs, at most MaxSeeders; anything else is skipped (a
// host name is not looked up).
func Seeders(magnet string) []netip.AddrPort {
	m, err := metainfo.ParseMagnetUri(magnet)
	if err != nil {
		return nil
	}
	var out []netip.AddrPort
	for _, v := range m.Params[peerParam] {
		a, err := netip.ParseAddrPort(v)
		if err != nil || a.Port() == 0 || !a.Addr().IsValid() || a.Addr().IsUnspecified() || len(out) == MaxSeeders {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
	}
	return out
}

// Parse decodes torrent bytes and checks they describe one file of the
// expected name and size (the catalog's claims).
func Parse(torrent []byte, wantName string, wantSize int64) (*metainfo.MetaInfo, *metainfo.Info, error) {
	mi, err := metainfo.Load(bytes.NewReader(torrent))
	if err != nil {
		return nil, nil, fmt.Errorf("torrent: %w", err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("torrent info: %w", err)
	}
	if len(info.Files) != 0 || info.Name != wantName || info.Length != wantSize {
		return nil, nil, fmt.Errorf("torrent describes %q (%d bytes), catalog says %q (%d bytes)", info.Name, info.TotalLength(), wantName, wantSize)
	}
	return mi, &info, nil
}

// Trackers lists the http(s) trackers of a torrent's announce-list, tier by
// tier (nil when the bytes do not decode).
func Trackers(torrent []byte) []string {
	mi, err := metainfo.Load(bytes.NewReader(torrent))
	if err != nil {
		return nil
	}
	var out []string
	for _, tier := range mi.UpvertedAnnounceList() {
		for _, u := range tier {
			if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" {
				out = append(out, u)
			}
		}
	}
	return out
}

// WebSeeds lists a torrent's usable web seeds (BEP 19 url-list entries
// that are http or https URLs with a host), in the torrent's order; nil when
// the bytes do not decode. The library's Torrent.Metainfo leaves the
// url-list out while its own web seeds are off, hence the bytes.
func WebSeeds(torrent []byte) []string {
	mi, err := metainfo.Load(bytes.NewReader(torrent))
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range mi.UrlList {
		if p, err := url.Parse(s); err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" {
			out = append(out, s)
		}
	}
	return out
}

// HeaderWithheld is on a web seed's 503 for an archive its server holds
// but will not send: its copy no longer matches the torrent (dist-server
// names it in its log, and seeds it again once repaired). Its value says
// why ("damaged"). A client then tells "the server's copy is damaged" from
// "withdrawn", and takes the archive from peers that hold a good one.
const HeaderWithheld = "X-Distpac-Withheld"

// WebSeedURL is where a single-file torrent's file named name lies under a
// web seed: an entry ending in "/" is a folder that holds the file by its
// name (as dist-server writes it, and as libtorrent reads BEP 19); any
// other entry is the file itself.
func WebSeedURL(seed, name string) string {
	if strings.HasSuffix(seed, "/") {
		return seed + url.PathEscape(name)
	}
	return seed
}
