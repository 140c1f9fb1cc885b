package swarm

// A torrent's payload file held open (openFile) and the pieces that read and
// write through it (filePiece), for fileStorage (storage.go).

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/distpac/distpac/internal/cache"
)

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

	// users counts the reads and writes using f now (get to done): the
	// pool closes only a file nobody uses; guarded by mu.
	users int
	// used is when f was last handed out (UnixNano), for the pool's choice.
	used atomic.Int64
	pool *filePool // bounds the descriptors open; nil: no bound

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
// do the operation itself. A file returned must be given back with done
// once the read or write is over.
func (o *openFile) get(write bool) payloadFile {
	f, opened := o.hold(write)
	if opened && o.pool != nil {
		o.pool.opened(o)
	}
	return f
}

// done gives back a file get returned.
func (o *openFile) done() {
	o.mu.Lock()
	o.users--
	o.mu.Unlock()
}

// hold is get under o's lock; opened says it opened a descriptor.
func (o *openFile) hold(write bool) (_ payloadFile, opened bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return payloadFile{}, false
	}
	defer func() {
		if o.f.f != nil {
			o.used.Store(time.Now().UnixNano())
		}
	}()
	if o.f.f != nil && time.Since(o.checked) > linkCheck {
		if st, err := o.f.f.Stat(); err != nil || unlinked(st) {
			o.retire()
		} else {
			o.checked = time.Now()
		}
	}
	if o.f.f != nil && (o.writable || !write) {
		o.users++
		return o.f, false
	}
	f, writable := o.open(write)
	if f == nil {
		return payloadFile{}, false
	}
	o.retire()
	o.f, o.writable, o.checked = newPayloadFile(f), writable, time.Now()
	if write && !writable {
		return payloadFile{}, true
	}
	o.users++
	return o.f, true
}

// shed closes o's descriptor for the pool when no read or write uses it,
// and reports whether o holds none now. It never waits for o's lock: a
// file busy there is in use.
func (o *openFile) shed() bool {
	if !o.mu.TryLock() {
		return false
	}
	defer o.mu.Unlock()
	if o.f.f == nil || o.closed {
		return true
	}
	if o.users > 0 {
		return false
	}
	o.f.f.Close()
	o.f, o.writable = payloadFile{}, false
	return true
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
	if o.pool != nil {
		o.pool.forget(o) // its lock after o's, as in opened (which only tries o's)
	}
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
	defer p.file.done()
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
	defer p.file.done()
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
	defer p.file.done()
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
