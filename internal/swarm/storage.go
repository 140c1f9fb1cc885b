package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
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
	dir string

	mu    sync.Mutex
	files map[metainfo.Hash]*openFile // the open torrents' files; guarded by mu
}

func newFileStorage(inner storage.ClientImplCloser, dir string) *fileStorage {
	return &fileStorage{ClientImplCloser: inner, dir: dir, files: map[metainfo.Hash]*openFile{}}
}

func (s *fileStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	t, err := s.ClientImplCloser.OpenTorrent(ctx, info, ih)
	if err != nil {
		return t, err
	}
	var h *openFile
	if len(info.Files) == 0 && info.Name == filepath.Base(info.Name) {
		h = &openFile{final: filepath.Join(s.dir, info.Name)}
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
	if f == nil {
		return fmt.Errorf("cannot open %s.part for writing", h.final)
	}
	_, err := f.WriteAt(b, off)
	return err
}

// openFile is a torrent's payload file, opened on first use. Writes go to
// the partial file (the library's naming: final + ".part"), which is
// created if missing; reads prefer it too and fall back to the final name.
// A complete file is read-only (0444), so a descriptor may be read-only;
// the rare write to it goes through the library's own path.
type openFile struct {
	final string

	mu       sync.Mutex
	f        *os.File // nil until first use; guarded by mu
	writable bool     // guarded by mu
	closed   bool     // guarded by mu
}

// get returns the open file, or nil when the library should do the
// operation itself (no file yet, or a write to a read-only descriptor).
func (o *openFile) get(write bool) *os.File {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	if o.f != nil && (o.writable || !write) {
		return o.f
	}
	part := o.final + ".part"
	flag := os.O_RDWR
	if write {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(part, flag, 0o644)
	writable := err == nil
	if errors.Is(err, fs.ErrNotExist) && !write {
		if f, err = os.OpenFile(o.final, os.O_RDWR, 0); err == nil {
			writable = true
		} else {
			f, err = os.Open(o.final)
		}
	}
	if err != nil {
		return nil
	}
	if o.f != nil {
		o.f.Close()
	}
	o.f, o.writable = f, writable
	if write && !writable {
		return nil
	}
	return o.f
}

func (o *openFile) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}

// piece wraps one of the library's pieces. Without a file of our own
// (h nil) only the flush is hidden.
func (o *openFile) piece(inner storage.PieceImpl, p metainfo.Piece) storage.PieceImpl {
	if o == nil {
		return withoutFlush(inner)
	}
	return &filePiece{PieceImpl: inner, file: o, off: p.Offset(), len: p.Length()}
}

// filePiece does a piece's I/O on the torrent's open file and leaves
// completion to the library's piece. It has no Flush.
type filePiece struct {
	storage.PieceImpl
	file     *openFile
	off, len int64
}

// ReadAt and WriteAt get offsets within the piece, as the library's pieces
// do.
func (p *filePiece) ReadAt(b []byte, off int64) (int, error) {
	f := p.file.get(false)
	if f == nil {
		return p.PieceImpl.ReadAt(b, off)
	}
	if off >= p.len {
		return 0, io.EOF
	}
	if rest := p.len - off; int64(len(b)) > rest {
		n, err := f.ReadAt(b[:rest], p.off+off)
		if err == nil {
			err = io.EOF // the piece ends here
		}
		return n, err
	}
	return f.ReadAt(b, p.off+off)
}

func (p *filePiece) WriteAt(b []byte, off int64) (int, error) {
	f := p.file.get(true)
	if f == nil {
		return p.PieceImpl.WriteAt(b, off)
	}
	if off+int64(len(b)) > p.len {
		return 0, io.ErrShortWrite
	}
	return f.WriteAt(b, p.off+off)
}

// WriteTo writes the piece out for hashing; a file that is short or
// missing yields fewer bytes (the hash then fails), holes read as zeros.
func (p *filePiece) WriteTo(w io.Writer) (int64, error) {
	f := p.file.get(false)
	if f == nil {
		if wt, ok := p.PieceImpl.(io.WriterTo); ok {
			return wt.WriteTo(w)
		}
		return io.Copy(w, io.NewSectionReader(p.PieceImpl, 0, p.len))
	}
	n, err := io.Copy(w, io.NewSectionReader(f, p.off, p.len))
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// pieceWriterTo is a piece that can write itself out (the file storage's
// fast path for hashing); the interface leaves out storage.Flusher.
type pieceWriterTo interface {
	storage.PieceImpl
	io.WriterTo
}

func withoutFlush(p storage.PieceImpl) storage.PieceImpl {
	if w, ok := p.(pieceWriterTo); ok {
		return struct{ pieceWriterTo }{w}
	}
	return struct{ storage.PieceImpl }{p}
}
