package swarm

// The report of one download: what it received, from where and when
// (Transfer), made when it ends (finish) or stops short (Stopped).

import (
	"maps"
	"slices"
	"time"

	"github.com/anacrolix/torrent"
)

// Transfer is what one download received, by source: the per-install
// transfer report (issue 13) is built from it. Bytes are payload bytes.
type Transfer struct {
	Total int64 `json:"total_bytes"` // the archive's size
	// FromSeeder came from the publisher's seeder (the peers the catalog
	// names, whether they connected to us or we to them).
	FromSeeder int64 `json:"from_seeder_bytes"`
	// FromMirrors came from other servers' seeders (dist-server mirror):
	// peers at a host of the client's server_urls that name themselves
	// dist-server seeders (serverpeers.go); Mirrors is how many sent any.
	FromMirrors int64 `json:"from_mirrors_bytes"`
	Mirrors     int   `json:"mirrors"`
	// FromPeers came from other peers; Peers is how many sent any.
	FromPeers int64 `json:"from_peers_bytes"`
	Peers     int   `json:"peers"`
	// FromWebSeed came over HTTP from a web seed; WebSeeds are the hosts
	// (host:port) that sent it, sorted, at most maxWebSeedHosts.
	FromWebSeed int64    `json:"from_web_seed_bytes"`
	WebSeeds    []string `json:"web_seeds,omitempty"`
	// WebSeedLastResort: the torrent names no web seed, so what came over
	// HTTP came from the servers' /packages/ as a last resort, when
	// BitTorrent had no source (WebSeedOrder).
	WebSeedLastResort bool `json:"web_seed_last_resort"`
	// AlreadyHad was verified on disk before this download (a resumed
	// partial download).
	AlreadyHad int64 `json:"already_had_bytes"`
	// Wasted was received and not used: duplicates, and pieces that failed
	// their hash (HashFailures of them).
	Wasted       int64 `json:"wasted_bytes"`
	HashFailures int   `json:"hash_failures"`
	// FirstByte is the time from the start until the first useful byte
	// arrived (0 when none did); Elapsed the time until the download ended.
	FirstByte time.Duration `json:"first_byte_ns"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// Ended is when the download ended, by the wall clock: where it falls
	// on a time line shared with other processes (the benchmark puts the
	// last download's end beside the last install's).
	Ended time.Time `json:"ended,omitzero"`
}

// LogArgs are the key-value pairs a log record gives a transfer of
// archive: the daemon's "download complete" line and an install's -v
// record say the same fields the same way.
func (t Transfer) LogArgs(archive string) []any {
	return []any{"archive", archive, "bytes", t.Total, "from_seeder", t.FromSeeder, "from_peers", t.FromPeers,
		"peers", t.Peers, "from_mirrors", t.FromMirrors, "mirrors", t.Mirrors, "from_web_seed", t.FromWebSeed, "already_had", t.AlreadyHad, "wasted", t.Wasted,
		"hash_failures", t.HashFailures, "took", t.Elapsed.Round(time.Millisecond)}
}

// Received is the useful payload that came, from every kind of source.
func (t Transfer) Received() int64 {
	return t.FromSeeder + t.FromMirrors + t.FromPeers + t.FromWebSeed
}

// finish records the report of a download that ended.
func (s *transferState) finish(t *torrent.Torrent) Transfer {
	st := t.Stats()
	failures := int(st.PiecesDirtiedBad.Int64())
	// bad is the chunks of pieces that failed their hash, counted as useful
	// when they came; a failed last piece counts as a whole piece, so a
	// report may then call up to a piece's length already had.
	var bad int64
	if info := t.Info(); info != nil {
		bad = int64(failures) * info.PieceLength
	}
	completed := t.BytesCompleted() // the library's lock, not under s.mu
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reportLocked(t.Length(), completed, bad)
	r.HashFailures = failures
	r.Wasted = max(0, st.BytesReadData.Int64()-st.BytesReadUsefulData.Int64()) + bad
	s.final = &r
	return r
}

// Stopped returns what the last download of ih through this engine had
// received when it ended before the archive was whole (an interrupted
// install, a failure): the bytes from each kind of source, the peers that
// sent any, what was verified before it started, and its times; what was
// wasted is not counted. ok is false when there was no such download, or
// it completed (Transfer then has its report), or it ended more than
// transferKeep ago. An interrupted install's history entry had an empty
// transfer report.
func (e *Engine) Stopped(ih InfoHash) (r Transfer, ok bool) {
	s := e.lastTransfer(ih)
	if s == nil {
		return r, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final != nil {
		return Transfer{}, false
	}
	return s.reportLocked(s.total, s.completed.Load(), 0), true
}

// reportLocked is what a download received so far, from where and when,
// with completed bytes verified now and bad bytes of pieces that failed
// their hash: the report's part that a finished download (finish) and one
// stopped before the end (Stopped) share. Stopped had its own copy, which
// missed finish's reading of what the library found on disk after the
// start. s.mu is held.
func (s *transferState) reportLocked(total, completed, bad int64) Transfer {
	r := Transfer{Total: total, FromSeeder: s.seeder.Load(), FromMirrors: s.mirror.Load(), FromPeers: s.others.Load(), FromWebSeed: s.web.Load(), Ended: time.Now()}
	r.Elapsed = r.Ended.Sub(s.start)
	// What was verified at the start is often 0: the library checks a
	// resumed part file after the download starts.
	r.AlreadyHad = alreadyHad(s.startHad, completed, r.Received(), bad, r.Total)
	if first := s.firstNS.Load(); first != 0 {
		r.FirstByte = time.Duration(first - s.start.UnixNano())
	}
	r.Peers, r.Mirrors = len(s.peers), len(s.mirrors)
	r.WebSeeds = slices.Sorted(maps.Keys(s.webHosts))
	r.WebSeedLastResort = s.lastResort
	return r
}

// alreadyHad is what a download of total bytes found verified on disk:
// what it had when it started, or, when more, what is complete now beyond
// what came (useful bytes received, less those of pieces that failed
// their hash and came again). Duplicate chunks are not in received: the
// library calls them wasted, not useful (they had been added to it, and
// every download with an endgame reported them as already had).
func alreadyHad(startHad, completed, received, bad, total int64) int64 {
	return min(max(0, startHad, completed-(received-bad)), total)
}

// Transfer returns the report of the last download of ih through this
// engine; ok is false when there was none, it has not ended, or it ended
// more than transferKeep ago.
func (e *Engine) Transfer(ih InfoHash) (r Transfer, ok bool) {
	s := e.lastTransfer(ih)
	if s == nil {
		return r, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final == nil {
		return r, false
	}
	return *s.final, true
}
