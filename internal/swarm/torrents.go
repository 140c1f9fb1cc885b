package swarm

// The torrents an engine shares: added for a download or a seed, dropped,
// and dropped when their payload vanished from under them.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// add registers the torrent (idempotent) and wants all of it. before, when
// not nil, runs once the library holds the torrent and, for a torrent not
// held yet, before any piece is wanted: a download's accounting and its
// write-error hook start there, or a peer that connects at once (dialled
// by the announcer, or dialling in) delivers chunks nobody counts.
func (e *Engine) add(torrentBytes []byte, before func(*torrent.Torrent)) (*torrent.Torrent, error) {
	mi, info, err := payloadInfo(torrentBytes)
	if err != nil {
		return nil, err
	}
	// A torrent this engine already holds as complete whose file was
	// removed since (dist-client clean, or a corrupt copy deleted before a
	// new download) must start again, not report success at once.
	// One still downloading is left alone: its file grows as pieces come,
	// and a second install of the package (a Download of a torrent in
	// progress) dropped the first's torrent under it.
	ih := mi.HashInfoBytes()
	e.mu.Lock()
	held := e.torrents[ih]
	e.mu.Unlock()
	if held != nil && held.Complete().Bool() {
		if st, err := os.Stat(filepath.Join(e.dir, info.Name)); err != nil || st.Size() != info.Length {
			e.Drop(ih)
		}
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return nil, fmt.Errorf("swarm: torrent %q: %w", info.Name, err)
	}
	spec.ChunkSize = requestChunk
	t, _, err := e.cl.AddTorrentSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("swarm: add %s: %w", info.Name, err)
	}
	e.mu.Lock()
	_, had := e.torrents[t.InfoHash()]
	e.torrents[t.InfoHash()] = t
	e.mu.Unlock()
	if !had {
		adjustMemoryLimit(1)
	}
	if before != nil {
		before(t)
	}
	t.DownloadAll()
	e.status.noteAdded(t.InfoHash())
	if e.ann != nil {
		e.ann.track(t, mi)
	}
	return t, nil
}

// Seed starts sharing a complete archive that already lies in Dir. With
// verify the payload is hashed first (the library trusts a full-size file
// otherwise); Seed fails if any piece is bad.
//
// The hashing is distpac's own, before the torrent joins the engine: the
// library's verification schedules its hashers by scanning every torrent
// of the client for each piece, and a seeder with 10,000 packages took
// 10.8 s to start, most of it there (and in the collector).
//
// The file as it was before the check (or, without verify, as the caller
// vouched for it) is what RecheckChanged compares it with.
func (e *Engine) Seed(ctx context.Context, torrentBytes []byte, verify bool) (metainfo.Hash, error) {
	var before os.FileInfo
	if verify {
		_, info, err := payloadInfo(torrentBytes)
		if err != nil {
			return metainfo.Hash{}, err
		}
		if before, err = verifyFile(ctx, filepath.Join(e.dir, info.Name), info); err != nil {
			return metainfo.Hash{}, err
		}
	}
	t, err := e.add(torrentBytes, nil)
	if err != nil {
		return metainfo.Hash{}, err
	}
	// The Complete flag is set asynchronously after hashing; the count of
	// missing bytes is current.
	if missing := t.BytesMissing(); missing != 0 {
		e.Drop(t.InfoHash())
		return metainfo.Hash{}, fmt.Errorf("swarm: seed %s: %d bytes missing or corrupt in %s", t.Name(), missing, e.dir)
	}
	if before == nil {
		e.noteWhole(t)
	} else {
		e.checked.note(t.InfoHash(), before)
	}
	return t.InfoHash(), nil
}

// Drop stops sharing a torrent. Its file stays on disk.
func (e *Engine) Drop(ih metainfo.Hash) { e.drop(ih) }

// drop is Drop, reporting whether the engine held the torrent.
func (e *Engine) drop(ih metainfo.Hash) bool {
	// A web-seed fetch must end first: the library's piece verification
	// keeps its client lock for good when the torrent closes under it.
	e.stopWebFetch(ih)
	if e.ann != nil {
		e.ann.untrack(ih)
	}
	defer e.states.forget(ih)
	defer e.status.forget(ih)
	defer e.checked.forget(ih)
	e.mu.Lock()
	t, ok := e.torrents[ih]
	delete(e.torrents, ih)
	delete(e.webErrs, ih)
	e.mu.Unlock()
	if ok {
		adjustMemoryLimit(-1)
		t.Drop()
	}
	return ok
}

// payloadGone drops a torrent whose payload file was deleted under it
// (dist-client clean, a user's rm) unless a Download of it is in flight,
// which writes it again. Seeded on, it answered peers' requests with
// failed reads, each of which marked the piece missing, so the engine
// downloaded again what the user had removed while its peers waited on it:
// a client that picked it stalled for 10 s before it restarted its
// download.
func (e *Engine) payloadGone(ih metainfo.Hash) {
	t := e.held(ih)
	if t == nil || t.Info() == nil {
		return
	}
	name := t.Info().Name
	if e.dropIdle(ih, func() bool { return payloadAbsent(filepath.Join(e.dir, name)) }) {
		e.logGone(name)
	}
}

// dropIdle drops ih if the engine holds it, no Download of it is running
// and cond holds, and says whether it did. Under vanishMu, cond too, so that a Download that
// starts meanwhile (its add drops and adds the torrent again, then marks
// it running) is seen running, not dropped after its start; nothing once
// the engine is closed.
func (e *Engine) dropIdle(ih metainfo.Hash, cond func() bool) bool {
	e.vanishMu.Lock()
	defer e.vanishMu.Unlock()
	select {
	case <-e.stop:
		return false
	default:
	}
	if e.downloadRunning(ih) || !cond() {
		return false
	}
	// Another look may have dropped it since this one listed the
	// torrents (the daemon's status and its periodic look, a read):
	// only the one that dropped it says so, once.
	return e.drop(ih)
}

// dropVanished drops the torrents whose payload file is gone and that no
// Download is running (dropIdle), and returns their names.
func (e *Engine) dropVanished() []string {
	var names []string
	for _, t := range e.torrentList() {
		info, ih := t.Info(), t.InfoHash()
		if info != nil && e.dropIdle(ih, func() bool { return payloadAbsent(filepath.Join(e.dir, info.Name)) }) {
			names = append(names, info.Name)
		}
	}
	return names
}

// DropVanished drops the torrents whose payload file is gone (payloadGone)
// and returns their names. Reads find a deleted file when peers ask for
// it; this finds it for a torrent nobody asks for, which the engine would
// otherwise announce and list as seeding.
func (e *Engine) DropVanished() []string {
	names := e.dropVanished()
	for _, name := range names {
		e.logGone(name)
	}
	return names
}

// logGone says that the archive name was dropped because its file is gone.
// Info, whoever finds it: a client's cache is the user's to clean
// (dist-client clean logged a warning for each archive through the
// recheck, a newcomer's run); a server, for which it is a fault, says so
// itself (RecheckLoop's onDamaged, Damaged.Gone).
func (e *Engine) logGone(name string) {
	e.logger.Info("the archive was removed from disk: no longer seeding it", "archive", filepath.Join(e.dir, name))
}

// Has reports whether the engine shares the torrent.
func (e *Engine) Has(ih metainfo.Hash) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.torrents[ih]
	return ok
}
