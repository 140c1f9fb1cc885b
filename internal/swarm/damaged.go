package swarm

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/distpac/distpac/internal/ui"
)

// maxPublisherBadPieces is how many pieces that failed their hash the
// publisher's own sources (its seeders, named by the catalog and dialled
// as trusted peers, and the torrent's own web seeds) may send one download
// before it fails. The library never bans a trusted peer and asks it again
// for a piece that failed, and web seeds are tried again every round: an
// archive damaged on the publisher's disk after it was published (one
// piece replaced) made an install of 250 packages fetch the same 22 KiB
// piece for 10 minutes, 15 GiB, with no word (an attacker's run). A piece
// counts when the publisher's seeders alone sent it, told as it fails
// (third_party patch 54): one that a hostile peer spoiled a block of is
// that peer's, whom the library bans. A few failures allow for a bit
// flipped in transit that TCP's checksum missed; a damaged copy fails
// every time.
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
	return fmt.Sprintf("swarm: %s: %s sent pieces that did not match the torrent's hashes (%s): the publisher's copy of the archive is damaged (dist-server checks its archives when it starts and when they change on disk, and stops seeding one that is)",
		e.Torrent, src, ui.Count(e.Failures, "time"))
}
