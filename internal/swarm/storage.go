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
	"syscall"
	"time"

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

	mu    sync.Mutex
	files map[metainfo.Hash]*openFile // the open torrents' files; guarded by mu
}

// newFileStorage wraps inner, whose piece completion is states.
func newFileStorage(inner storage.ClientImplCloser, dir string, states *pieceStates) *fileStorage {
	return &fileStorage{ClientImplCloser: inner, dir: dir, states: states, files: map[metainfo.Hash]*openFile{}}
}

func (s *fileStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	var h *openFile
	fresh := false
	if len(info.Files) == 0 && info.Name == filepath.Base(info.Name) {
		h = &openFile{final: filepath.Join(s.dir, info.Name)}
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

// openFile is a torrent's payload file, opened on first use. Writes go to
// the partial file (the library's naming, cache.PartName); reads prefer it
// too and fall back to the final name. Whenever this cannot do exactly what
// the library would, get returns nil and the library does the operation
// itself: no file yet for a read, or a write while only the final file
// exists (the library renames it back to .part first).
type openFile struct {
	final string

	mu       sync.Mutex
	f        payloadFile // f.f nil until first use; guarded by mu
	writable bool        // guarded by mu
	checked  time.Time   // when f was last seen linked; guarded by mu
	old      []*os.File  // replaced descriptors, closed with the torrent (readers may still use them); guarded by mu
	closed   bool        // guarded by mu

	gone     func() // see fileStorage.gone; nil: nobody is told
	goneOnce sync.Once
}

// readFailed looks, after a read the library did itself failed, whether
// the payload is gone (deleted under the torrent) and says so once.
func (o *openFile) readFailed() {
	if o.gone != nil && payloadAbsent(o.final) {
		o.goneOnce.Do(o.gone)
	}
}

// linkCheck is how often a cached descriptor is checked for a file that
// was deleted under it (dist-client clean, a user's rm): once a second is
// one fstat, against the open and close per chunk it saves.
const linkCheck = time.Second

// get returns the open file, or one whose f is nil when the library should
// do the operation itself.
func (o *openFile) get(write bool) payloadFile {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return payloadFile{}
	}
	if o.f.f != nil && time.Since(o.checked) > linkCheck {
		if st, err := o.f.f.Stat(); err != nil || unlinked(st) {
			o.retire()
		} else {
			o.checked = time.Now()
		}
	}
	if o.f.f != nil && (o.writable || !write) {
		return o.f
	}
	f, writable := o.open(write)
	if f == nil {
		return payloadFile{}
	}
	o.retire()
	o.f, o.writable, o.checked = newPayloadFile(f), writable, time.Now()
	if write && !writable {
		return payloadFile{}
	}
	return o.f
}

// open opens the payload file as the library would find it.
func (o *openFile) open(write bool) (f *os.File, writable bool) {
	part := cache.PartName(o.final)
	f, err := openRW(part)
	if err == nil {
		return f, true
	}
	if errors.Is(err, fs.ErrPermission) && !write {
		if f, err := os.Open(part); err == nil {
			return f, false
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if write {
		if _, err := os.Stat(o.final); err == nil {
			return nil, false // the library renames it back to .part first
		}
		f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
		return f, err == nil
	}
	if f, err := os.OpenFile(o.final, os.O_RDWR, 0); err == nil {
		return f, true
	}
	if f, err := os.Open(o.final); err == nil {
		return f, false
	}
	return nil, false
}

// openRW opens an existing file for reading and writing. A file the library
// made read-only (a complete file, renamed back to .part when a piece turned
// out bad) is made writable again first, as the library does.
func openRW(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		if cerr := os.Chmod(path, 0o644); cerr == nil {
			f, err = os.OpenFile(path, os.O_RDWR, 0)
		}
	}
	return f, err
}

// retire sets the current descriptor aside; it stays open until the torrent
// closes, as reads in flight may still use it. Call with mu held.
func (o *openFile) retire() {
	if o.f.f != nil {
		o.old = append(o.old, o.f.f)
	}
	o.f, o.writable = payloadFile{}, false
}

// unlinked reports whether an open file has been deleted.
func unlinked(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Nlink == 0
}

func (o *openFile) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.retire()
	var errs []error
	for _, f := range o.old {
		errs = append(errs, f.Close())
	}
	o.old = nil
	return errors.Join(errs...)
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
	if f.f == nil {
		n, err := p.PieceImpl.ReadAt(b, off)
		if err != nil { // a missing file reads as io.EOF there
			p.file.readFailed()
		}
		return n, err
	}
	if off >= p.len {
		return 0, io.EOF
	}
	if rest := p.len - off; int64(len(b)) > rest {
		n, err := readFileAt(f, b[:rest], p.off+off)
		if err == nil {
			err = io.EOF // the piece ends here
		}
		return n, err
	}
	return readFileAt(f, b, p.off+off)
}

func (p *filePiece) WriteAt(b []byte, off int64) (int, error) {
	f := p.file.get(true)
	if f.f == nil {
		return p.PieceImpl.WriteAt(b, off)
	}
	if off+int64(len(b)) > p.len {
		return 0, io.ErrShortWrite
	}
	return writeFileAt(f, b, p.off+off)
}

// WriteTo writes the piece out for hashing; a file that is short or
// missing yields fewer bytes (the hash then fails), holes read as zeros.
func (p *filePiece) WriteTo(w io.Writer) (int64, error) {
	f := p.file.get(false)
	if f.f == nil {
		if wt, ok := p.PieceImpl.(io.WriterTo); ok {
			return wt.WriteTo(w)
		}
		return io.Copy(w, io.NewSectionReader(p.PieceImpl, 0, p.len))
	}
	bp := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(bp)
	n, err := io.CopyBuffer(w, io.NewSectionReader(f, p.off, p.len), *bp)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// hashBuffers hold the reads of pieces being hashed. io.Copy allocated 32 KiB
// for every piece: an eighth of a one-peer download's allocations
// (BenchmarkOnePeer), and a piece of 256 KiB took 8 reads instead of 2.
var hashBuffers = sync.Pool{New: func() any {
	b := make([]byte, 128<<10)
	return &b
}}

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
