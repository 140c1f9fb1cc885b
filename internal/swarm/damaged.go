package swarm

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/ui"
)

// maxPublisherBadPieces is how many pieces that failed their hash the
// publisher's own sources (its seeder, named by the catalog, and the web
// seeds) may send one download before it fails. The library never bans
// the publisher's seeder (a trusted peer, directPeers) and asks it again
// for a piece that failed, and the web seeds are tried again every round:
// an archive damaged on the publisher's disk after it was published (one
// piece replaced) made an install of 250 packages fetch the same 22 KiB
// piece for 10 minutes, 15 GiB, with no word (an attacker's run). Other
// peers need no such bound: one that sends a bad piece alone is banned,
// and one whose block spoiled a piece with others is banned once the
// piece verifies (smart ban). A few failures allow for a bit flipped in
// transit that TCP's checksum missed; a damaged copy fails every time.
// The download looks at its counts every tick (200 ms), so the seeder's
// bad piece comes again for up to a tick: on loopback 651 times, 42 MB,
// for a piece of 64 KiB (TestDamagedPublisherCopyFailsFast), on a real
// link a tick of its rate.
const maxPublisherBadPieces = 4

// DamagedError ends a download whose publisher serves a damaged copy of
// the archive: its seeder or its web seeds sent Failures pieces that did
// not match the torrent's hashes.
type DamagedError struct {
	Torrent  string
	Failures int
	Seeders  []netip.AddrPort // the publisher's seeders, as the catalog names them
	WebSeeds []string         // web seeds that sent a piece that failed its hash
}

func (e *DamagedError) Error() string {
	var from []string
	if len(e.Seeders) > 0 {
		addrs := make([]string, len(e.Seeders))
		for i, a := range e.Seeders {
			addrs[i] = a.String()
		}
		from = append(from, "the publisher's seeder "+strings.Join(addrs, ", "))
	}
	if len(e.WebSeeds) > 0 {
		from = append(from, "web seed "+strings.Join(e.WebSeeds, ", "))
	}
	src := "the publisher"
	if len(from) > 0 {
		src = strings.Join(from, " and ")
	}
	return fmt.Sprintf("swarm: %s: %s sent pieces that did not match the torrent's hashes (%s): the publisher's copy of the archive is damaged (dist-server checks its archives when it starts, and refuses to seed one that is)",
		e.Torrent, src, ui.Count(e.Failures, "time"))
}

// publisherDamage counts the pieces of one download that failed their
// hash from the publisher's seeder. The library counts a failed piece
// against every connection that sent part of it; a failure counts here
// only when no other peer's count rose in the same look, so that a
// hostile peer that spoils pieces the publisher also sent parts of does
// not get the download failed (it is banned once such a piece verifies).
type publisherDamage struct {
	failed int64                       // the torrent's failed pieces at the last look
	seen   map[*torrent.PeerConn]int64 // each connection's failed pieces then
	pieces int                         // failures the publisher's seeder alone took part in
}

// look takes in what t's connections failed since the last look, when t's
// count of failed pieces (failed) moved: the connections' counts move
// only with it, so the download's every tick need not ask every
// connection. fromSeeder tells the publisher's seeders' connections.
func (d *publisherDamage) look(t *torrent.Torrent, failed int64, fromSeeder func(*torrent.PeerConn) bool) {
	if failed == d.failed {
		return
	}
	d.failed = failed // a restarted torrent counts from 0 again: it moved too
	seen := make(map[*torrent.PeerConn]int64, len(d.seen))
	var seeder, others int64
	for _, pc := range t.PeerConns() {
		st := pc.Stats()
		n := st.PiecesDirtiedBad.Int64()
		seen[pc] = n
		if rose := n - d.seen[pc]; rose > 0 {
			if fromSeeder(pc) {
				seeder += rose
			} else {
				others += rose
			}
		}
	}
	d.seen = seen
	if others == 0 {
		d.pieces += int(seeder)
	}
}
