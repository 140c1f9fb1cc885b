package swarm

import (
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRequestBudget is the memory an engine holds at most for data read
// for peers' requests and not yet sent: 256 connections at full
// read-ahead, so that a few hundred peers that stop reading cannot take it
// all from the others before peerWriteTimeout drops them.
const DefaultRequestBudget = 64 << 20

// peerReadAhead is the data read for one peer's requests and not yet sent
// (the writer then takes it 32 KiB at a time). It only has to hide a page
// cache read of 16 KiB (microseconds): the round trip is covered by the
// socket's send buffer. A 64 MiB download from one seeder on loopback took
// 0.24 s with 1 MiB and with 256 KiB. It also caps the length of the
// requests this engine serves (BEP 3 clients ask for 16 KiB, distpac peers
// for requestChunk: TestPeersAskWholeChunks).
const peerReadAhead = 128 << 10

// peerWriteTimeout drops a peer whose socket accepts nothing for this long
// while data waits for it: a peer that requests and never reads holds its
// read-ahead until then. A 32 KiB write that takes 15 s means under
// 2 KiB/s.
const peerWriteTimeout = 15 * time.Second

// SoftMemoryLimit is the Go runtime's soft memory limit in a process that
// runs an engine with no torrents, unless GOMEMLIMIT sets another; each
// torrent adds perTorrentMemory. The engine's live memory is bounded (the
// request budget, a few buffers a connection, the library's state of each
// torrent), but with the default GOGC the heap may grow to twice what is
// live before a collection: 200 hoarding connections held 70 MB live and
// took dist-server to 165 MB RSS; with the limit, 117 MB. The limit follows
// the torrents because the library keeps about 9 KB of each: a seeder of
// 10,000 packages held 117 MB live, and a fixed 100 MiB limit made the
// collector run without pause (half its start-up CPU).
const SoftMemoryLimit = 100 << 20

// perTorrentMemory is what each torrent adds to the soft memory limit.
const perTorrentMemory = 12 << 10

var (
	// ownMemLimit: this process's soft memory limit is the engines' to set
	// (GOMEMLIMIT is unset); decided once.
	ownMemLimit  = sync.OnceValue(func() bool { return os.Getenv("GOMEMLIMIT") == "" })
	liveTorrents atomic.Int64 // torrents in every engine of the process
)

// adjustMemoryLimit sets the soft memory limit for the torrents held now.
func adjustMemoryLimit(delta int64) {
	n := liveTorrents.Add(delta)
	if ownMemLimit() {
		debug.SetMemoryLimit(SoftMemoryLimit + perTorrentMemory*max(n, 0))
	}
}
