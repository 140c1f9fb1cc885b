package swarm

// A download's torrent when it stalls or is given up: restarted when it
// stalled with a connected peer that has a piece it lacks, dropped when
// its last caller gave it up (abandon), and what it had received then
// (Stopped).

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/cache"
)

// stallRestart is how long a download may sit still with a connected peer
// that has a piece it lacks before it is started afresh.
const stallRestart = 10 * time.Second

// restart drops t and adds its torrent again, for a download that stalled
// with a connected peer that has a piece it lacks (lookPeers), unless
// the engine no longer holds t: another Download of it restarted it first
// (each Download of a torrent sees its stall at about the same time, and
// one restart is enough), or it was dropped. Every Download of the
// torrent goes on with the new one (it re-reads the engine's torrent each
// tick), so the callers' count and the shared transfer state stay as they
// were; the write-error hook is set on the new torrent before it wants any
// piece. The direct peers are added once here, not by each Download. Under
// vanishMu, so that no Download joins or leaves (abandon) between the drop
// and the add.
func (e *Engine) restart(t *torrent.Torrent, torrentBytes []byte, onWriteErr func(error), direct []netip.AddrPort) error {
	e.vanishMu.Lock()
	defer e.vanishMu.Unlock()
	ih := t.InfoHash()
	if e.held(ih) != t {
		return nil
	}
	e.logger.Warn("download stalled with peers connected; restarting it", "torrent", t.Name())
	e.Drop(ih)
	nt, err := e.add(torrentBytes, func(t *torrent.Torrent) { t.SetOnWriteChunkError(onWriteErr) })
	if err != nil {
		return err
	}
	nt.AddPeers(directPeers(direct))
	return nil
}

// held returns the torrent the engine holds for ih; nil when none.
func (e *Engine) held(ih metainfo.Hash) *torrent.Torrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.torrents[ih]
}

// directPeers are the peers named by the catalog (the publisher's
// seeder), trusted: dialled whatever the library thinks of their address.
func directPeers(direct []netip.AddrPort) []torrent.PeerInfo {
	pis := make([]torrent.PeerInfo, 0, len(direct))
	for _, p := range direct {
		pis = append(pis, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(p)), Trusted: true})
	}
	return pis
}

// abandon ends a Download call of ih. When it was the last one running
// and the torrent is not complete (the caller gave up: an install
// interrupted with Ctrl-C, a client that went away from the daemon, a
// failure), the torrent is dropped: the library would otherwise go on
// downloading it for nobody, the daemon's status showing it "downloading"
// for good. The verified part stays in the cache file, and the next
// Download resumes from it.
func (e *Engine) abandon(ih metainfo.Hash) {
	e.vanishMu.Lock() // a Download that starts meanwhile is counted before this looks, or after the drop
	defer e.vanishMu.Unlock()
	e.mu.Lock()
	e.callers[ih]--
	last := e.callers[ih] <= 0
	if last {
		delete(e.callers, ih)
	}
	t := e.torrents[ih]
	e.mu.Unlock()
	if !last {
		return
	}
	e.stopWebFetch(ih) // the last caller's: the others still used it
	e.forgetTransferLater(ih)
	if t == nil || t.Complete().Bool() || e.ended(context.Background()) != nil {
		return
	}
	// Said of every end (a failure, a daemon stopping, an install gone):
	// "nothing waits for it now" came just before "daemon download
	// failed" and "handed back to the install", where one did (a
	// newcomer's run).
	e.logger.Info("download stopped unfinished (it failed, or every install that waited for it ended or gave it up); the part downloaded stays in the cache", "torrent", t.Name(), "done", t.BytesCompleted(), "size", t.Length())
	// What stays is the verified pieces (partholes.go): the others' bytes
	// are freed once the library no longer writes them, and before
	// another Download of it can start (vanishMu). The pieces are read
	// after the drop: a closed torrent records no verification (its
	// pieceHashed returns first), and keeps those it recorded, so a piece
	// verified while it was being dropped is not punched (read before,
	// it was, and fetched again by the next download).
	e.Drop(ih)
	spans := unverifiedSpans(t)
	if info := t.Info(); info != nil && info.Name == filepath.Base(info.Name) {
		if err := punchHoles(cache.PartName(filepath.Join(e.dir, info.Name)), spans); err != nil {
			e.logger.Warn("the part downloaded stays whole in the cache: the next plan counts its pieces not verified as kept", "torrent", t.Name(), "err", err)
		}
	}
}
