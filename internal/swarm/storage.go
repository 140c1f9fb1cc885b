package swarm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/distpac/distpac/internal/cache"
)

// fileStorage wraps the library's file storage (which keeps the .part
// naming, completion and promotion) and removes two costs it has per
// chunk, both measured at N=32 on 2 cores, where the swarm is CPU-bound:
//
//   - It opens and closes the payload file for every chunk read or written
//     (in Go that is openat, four fcntl, a failing epoll_ctl and close around
//     one pread or pwrite). Here each torrent keeps its descriptor open.
//   - It fsyncs the whole file after every verified piece, from its hasher,
//     before the piece is announced: 8,192 fsyncs in 13 s, 5 % of the
//     clients' CPU, and every piece reached the swarm that much later.
//     Nothing depends on it: piece completion lives in memory, a partial
//     file is re-hashed when a download starts again, a daemon verifies every
//     cached archive before seeding it, and install checks the archive's
//     SHA-256 before extracting it.
//
// distpac torrents hold one file, at dir/<name> (Engine.add refuses
// others); the descriptor follows it through the library's renames (.part
// to final when complete, back when a piece turns out bad), as a rename
// keeps the inode.
type fileStorage struct {
	storage.ClientImplCloser
	dir    string
	states *pieceStates // the inner storage's piece completion
	// gone is told, once per open torrent, that a read found neither its
	// payload file nor the .part (Engine.payloadGone); nil: nobody is.
	gone func(metainfo.Hash)

	pool *filePool // bounds the descriptors the files keep open

	mu    sync.Mutex
	files map[metainfo.Hash]*openFile // the open torrents' files; guarded by mu
}

// newFileStorage wraps inner, whose piece completion is states.
func newFileStorage(inner storage.ClientImplCloser, dir string, states *pieceStates) *fileStorage {
	return &fileStorage{ClientImplCloser: inner, dir: dir, states: states, pool: newFilePool(), files: map[metainfo.Hash]*openFile{}}
}

func (s *fileStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	var h *openFile
	fresh := false
	if len(info.Files) == 0 && info.Name == filepath.Base(info.Name) {
		h = &openFile{final: filepath.Join(s.dir, info.Name), pool: s.pool}
		if s.gone != nil {
			h.gone = func() { s.gone(ih) }
		}
		// A FIFO, socket or device at the payload's names (or a link to
		// one) goes, as a damaged file would: the library would block on
		// its reads for ever (a review of the attacker's run).
		for _, name := range []string{h.final, cache.PartName(h.final)} {
			if fi, err := os.Stat(name); err == nil && fi.Mode()&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice) != 0 {
				os.Remove(name)
			}
		}
		if absent(h.final) && absent(cache.PartName(h.final)) {
			// A new download. Its pieces are known to be missing, so the
			// library need not hash each piece of a file that is not there
			// before it asks for any: that was five failing openat calls and
			// a completion event per piece, 1,300 of the calls a daemon made
			// in a bench-swarm row (N=16, 256 pieces). A partial file that
			// another process puts there after this look is not hashed
			// either: its pieces are downloaded again over it.
			s.states.setAll(ih, info.NumPieces(), false)
			fresh = true
		}
	}
	t, err := s.ClientImplCloser.OpenTorrent(ctx, info, ih)
	if err != nil {
		if fresh {
			s.states.forget(ih) // a later open looks again
		}
		return t, err
	}
	if h != nil {
		s.mu.Lock()
		s.files[ih] = h
		s.mu.Unlock()
	}
	if inner := t.Piece; inner != nil {
		t.Piece = func(p metainfo.Piece) storage.PieceImpl { return h.piece(inner(p), p) }
	}
	if inner := t.PieceWithHash; inner != nil {
		t.PieceWithHash = func(p metainfo.Piece, hash g.Option[[]byte]) storage.PieceImpl {
			return h.piece(inner(p, hash), p)
		}
	}
	if h != nil {
		closeInner := t.Close
		t.Close = func() error {
			s.mu.Lock()
			if s.files[ih] == h {
				delete(s.files, ih)
			}
			s.mu.Unlock()
			err := h.close()
			if closeInner != nil {
				err = errors.Join(closeInner(), err)
			}
			return err
		}
	}
	return t, nil
}

// writeAt writes payload bytes of an open torrent at offset off of its
// file, as if a peer had sent them (the library still has to verify the
// pieces).
func (s *fileStorage) writeAt(ih metainfo.Hash, b []byte, off int64) error {
	s.mu.Lock()
	h := s.files[ih]
	s.mu.Unlock()
	if h == nil {
		return errors.New("torrent storage is not open")
	}
	f := h.get(true)
	if f.f == nil {
		return fmt.Errorf("cannot open %s.part for writing", h.final)
	}
	defer h.done()
	_, err := writeFileAt(f, b, off)
	return err
}

// payloadAbsent reports whether a torrent's payload file is at neither of
// its names, final nor final.part. The library renames one to the other
// (.part to final when complete, back when a piece turns out bad): the
// final name is looked at again after the .part, so that a rename between
// the first two looks does not read as no file.
func payloadAbsent(final string) bool {
	return absent(final) && absent(cache.PartName(final)) && absent(final)
}

// absent reports whether nothing is at path.
func absent(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// pieceStates keeps piece completion in memory. Unlike the library's map
// version it forgets a torrent on Drop: a torrent added again then has its
// partial file hashed (pieces unknown), where a remembered state would make
// the library treat every piece of a .part file as missing and fetch it all
// again. It has no Close and no range fast path: the map version yields
// nothing for a torrent it has forgotten, which panics a piece hasher that
// finishes while the engine closes (seen in tests). A file named without
// ".part" is complete at start; partial files are hashed; with neither,
// every piece is missing (fileStorage.OpenTorrent).
type pieceStates struct {
	mu sync.Mutex
	m  map[metainfo.Hash]map[int]bool // torrent → piece → complete; guarded by mu
}

func newPieceStates() *pieceStates { return &pieceStates{m: map[metainfo.Hash]map[int]bool{}} }

func (p *pieceStates) Get(k metainfo.PieceKey) (storage.Completion, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.m[k.InfoHash][k.Index]
	return storage.Completion{Complete: c, Ok: ok}, nil
}

func (p *pieceStates) Set(k metainfo.PieceKey, complete bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[k.InfoHash] == nil {
		p.m[k.InfoHash] = map[int]bool{}
	}
	p.m[k.InfoHash][k.Index] = complete
	return nil
}

// setAll records every piece of a torrent of n pieces as complete or not.
func (p *pieceStates) setAll(ih metainfo.Hash, n int, complete bool) {
	m := make(map[int]bool, n)
	for i := range n {
		m[i] = complete
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[ih] = m
}

func (p *pieceStates) Close() error { return nil }

// forget drops what is known of a torrent's pieces.
func (p *pieceStates) forget(ih metainfo.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, ih)
}
