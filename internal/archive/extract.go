package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/distpac/distpac/internal/procs"
)

const (
	// decoderMaxMemory caps what the zstd decoder may allocate for its
	// window and buffers, whatever a frame header asks for.
	decoderMaxMemory = 256 << 20
	// maxTrailing is how many decompressed bytes may follow the tar footer
	// (other tar tools pad to 10 KiB records); more is a malformed archive.
	maxTrailing = 1 << 20
)

// newDecoder returns a zstd reader with bounded memory and no goroutines:
// the one Warm made if there is one, else one of the pool, else a new one.
// (Decoding ahead on a goroutine of its own saved 20 ms of 136 extracting
// 10,000 files of 1 KiB on two cores, and cost 5 ms once the writers
// below took the second core.)
func newDecoder(r io.Reader) (*zstd.Decoder, error) {
	d := takeWarm()
	if d == nil {
		d, _ = decoders.Get().(*zstd.Decoder)
	}
	if d != nil {
		if err := d.Reset(r); err == nil {
			return d, nil
		}
		d.Close()
	}
	return zstd.NewReader(r, decoderOptions...)
}

var decoderOptions = []zstd.DOption{
	zstd.WithDecoderConcurrency(1),
	zstd.WithDecoderMaxMemory(decoderMaxMemory),
}

// decoders keeps zstd decoders between archives. A decoder's history and
// block buffers are about 160 KiB, made anew for every archive otherwise:
// in a heap profile of an install of 1,000 small packages (bench -many)
// they were 160 MB of the install's 583 MB allocated.
var decoders sync.Pool

// releaseDecoder gives d back to decoders, holding no reference to the
// stream it read.
func releaseDecoder(d *zstd.Decoder) {
	if d.Reset(nil) != nil {
		d.Close()
		return
	}
	decoders.Put(d)
}

// copyBuffers are the buffers Extract copies files larger than smallFile
// through, one an extraction, kept between extractions.
var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// kind is what Extract made at a path, so later entries can be checked
// against it.
type kind uint8

const (
	kindImplicitDir kind = iota + 1 // parent created for a deeper entry
	kindDir
	kindFile
	kindSymlink
)

// Extract reads a tar.zst stream from r and unpacks it under dest, which must
// be an empty directory or not exist yet.
//
// Entries that could escape dest are refused with an error matching
// ErrUnsafe before anything is written for them: absolute names, ".."
// components, names through an extracted symlink or file, symlinks whose
// target leaves dest, hardlinks to anything but an extracted regular file,
// device files, FIFOs and every other type, and duplicate names. All
// filesystem calls also go through an os.Root, so even a bug here cannot
// follow a link out of dest. Writing stops with an error matching
// ErrTooLarge once regular file bytes would exceed maxSize (<= 0: no limit).
// Modes are normalised: directories 0755, files 0755 or 0644.
//
// On any error, including ctx cancellation, Extract removes what it created,
// leaving dest as it found it.
func Extract(ctx context.Context, r io.Reader, dest string, maxSize int64) (err error) {
	// A command that runs on one processor (procs.Serial) extracts on
	// every core: on one, each read or write that lasts over 20 µs (a
	// 64 KiB write into the page cache does here) has its processor
	// retaken by the runtime's monitor, which then polls every 20 µs for
	// the whole extraction. One install of a 16 MiB package from the
	// cache, medians of eight: 113 ms of CPU with this against 122 ms on
	// one processor; through a download from its daemon (six, with the
	// same hold around stage.Extract) 122 against 128 ms; 10,000 files of
	// 1 KiB took 0.62–0.93 s on one processor where two took 0.41–0.69 s.
	defer procs.Parallel()()
	created, err := prepareDest(dest)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer func() {
		if err != nil {
			cleanup(dest, created)
		}
	}()
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer root.Close()
	zr, err := newDecoder(ctxReader{ctx: ctx, r: r})
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer releaseDecoder(zr)

	x := &extractor{ctx: ctx, root: root, top: dirHandle{root: root}, seen: map[string]kind{}, maxSize: maxSize}
	defer x.close() // before the cleanup above: no writer is left writing
	counted := &countingReader{r: zr}
	tr := tar.NewReader(counted)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("extract: read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		if x.w != nil {
			if err := x.w.failed(); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
		}
	}
	if err := x.flush(); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	// tar.Reader reports a stream without a single byte as a clean end;
	// that is no archive at all, not an empty package.
	if counted.n == 0 {
		return errors.New("extract: empty archive")
	}
	// Read to the end of the zstd stream so a truncated or corrupt frame
	// (its checksum comes last) is an error even after a complete tar.
	n, err := io.Copy(io.Discard, io.LimitReader(zr, maxTrailing+1))
	if err != nil {
		return fmt.Errorf("extract: read archive: %w", err)
	}
	if n > maxTrailing {
		return fmt.Errorf("extract: more than %d bytes of trailing data after the tar footer", maxTrailing)
	}
	return nil
}

// prepareDest makes sure dest is an empty directory, creating it if needed;
// created reports whether it did.
func prepareDest(dest string) (created bool, err error) {
	err = os.Mkdir(dest, dirPerm)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, err
	}
	f, err := os.Open(dest)
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !info.IsDir() {
		return false, fmt.Errorf("%s: not a directory", dest)
	}
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, fmt.Errorf("%s: destination is not empty", dest)
	}
	if err != nil && err != io.EOF {
		return false, err
	}
	return false, nil
}

// cleanup undoes a failed extraction. RemoveAll does not follow symlinks,
// so it cannot reach outside dest.
func cleanup(dest string, created bool) {
	if created {
		os.RemoveAll(dest)
		return
	}
	ents, _ := os.ReadDir(dest)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dest, e.Name()))
	}
}

// extractor holds the state of one Extract call.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	seen    map[string]kind // clean name -> what was made there
	maxSize int64
	written int64           // regular file bytes so far
	buf     *[32 << 10]byte // copy buffer, reused for every file (copyBuffers)

	// dir is the root opened at dirName, the directory of the last file
	// written: archives list a directory's files together, and opening
	// each file in it is then one openat instead of a walk from the root
	// (10,000 files of 1 KiB: 65 ms of 176 went to those walks).
	dir     *dirHandle
	dirName string
	top     dirHandle // root, for files at the top
	// w writes small files in parallel (writers.go), started at the small
	// file after the first inlineSmall, which the extractor writes itself
	// (inline counts them); older holds the directories left since the
	// last flush, in which w may still be writing.
	w      *writers
	inline int
	older  []*dirHandle
}

// dirOf returns the directory to create name's last element in, and that
// element. The parent was made by this extraction (parents checks it), and
// an os.Root opened there stays beneath it like the top one.
func (x *extractor) dirOf(name string) (*dirHandle, string, error) {
	parent, base := path.Split(name)
	if parent == "" {
		return &x.top, base, nil
	}
	parent = strings.TrimSuffix(parent, "/")
	if x.dir == nil || x.dirName != parent {
		if x.dir != nil {
			x.older = append(x.older, x.dir)
			x.dir = nil
			if len(x.older) >= maxOpenDirs {
				if err := x.flush(); err != nil {
					return nil, "", err
				}
			}
		}
		r, err := x.root.OpenRoot(parent)
		if err != nil {
			return nil, "", err
		}
		x.dir, x.dirName = &dirHandle{root: r}, parent
	}
	return x.dir, base, nil
}

// flush waits for the writers to finish every queued file, then closes
// the directories only they used; it returns their first error.
func (x *extractor) flush() error {
	var err error
	if x.w != nil {
		err = x.w.drain()
		x.w = nil
	}
	for _, d := range x.older {
		d.close()
	}
	x.older = nil
	return err
}

// close ends the extraction's writers and directories, whatever happened
// (the top root is Extract's to close).
func (x *extractor) close() {
	x.flush()
	if x.dir != nil {
		x.dir.close()
		x.dir = nil
	}
	x.top.closeFile()
	if x.buf != nil {
		copyBuffers.Put(x.buf)
		x.buf = nil
	}
}

// onlyWriter hides a file's ReadFrom so that io.CopyBuffer uses the
// buffer it is given.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

func unsafeEntry(name, msg string) error {
	return &entryError{path: "entry " + strconv.Quote(name), msg: msg, kind: ErrUnsafe}
}

// entry checks and creates one member.
func (x *extractor) entry(hdr *tar.Header, content io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return unsafeEntry(hdr.Name, err.Error())
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			return nil // "./": the destination itself
		}
		return unsafeEntry(hdr.Name, "names the destination itself")
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
	default:
		return unsafeEntry(name, "is "+describeType(hdr.Typeflag)+" (only directories, regular files, symlinks and hardlinks are allowed)")
	}
	if err := x.parents(name); err != nil {
		return err
	}
	if k, ok := x.seen[name]; ok {
		// Write never emits a name twice, but other tools may list a
		// directory after files inside it; that alone is harmless.
		if k == kindImplicitDir && hdr.Typeflag == tar.TypeDir {
			x.seen[name] = kindDir
			return nil
		}
		return unsafeEntry(name, "duplicate entry")
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.mkdir(name); err != nil {
			return err
		}
		x.seen[name] = kindDir
	case tar.TypeReg:
		if err := x.file(name, hdr, content); err != nil {
			return err
		}
		x.seen[name] = kindFile
	case tar.TypeSymlink:
		if msg := linkProblem(name, hdr.Linkname, "the destination"); msg != "" {
			return unsafeEntry(name, msg)
		}
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return fmt.Errorf("%s: %w", name, unwrapPath(err))
		}
		x.seen[name] = kindSymlink
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return unsafeEntry(name, "hardlink to "+strconv.Quote(hdr.Linkname)+": "+err.Error())
		}
		if x.seen[target] != kindFile {
			return unsafeEntry(name, "hardlink to "+strconv.Quote(hdr.Linkname)+" is not to an extracted regular file")
		}
		if err := x.flush(); err != nil { // the target may still be queued
			return err
		}
		if err := x.root.Link(target, name); err != nil {
			return fmt.Errorf("%s: %w", name, unwrapPath(err))
		}
		x.seen[name] = kindFile
	}
	return nil
}

// parents checks every ancestor of name: an extracted symlink or file there
// would redirect the entry, so it is refused; a missing one is created.
func (x *extractor) parents(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		switch x.seen[p] {
		case kindDir, kindImplicitDir:
		case kindSymlink:
			return unsafeEntry(name, "path goes through the symlink "+strconv.Quote(p))
		case kindFile:
			return unsafeEntry(name, "path goes through the file "+strconv.Quote(p))
		default:
			if err := x.mkdir(p); err != nil {
				return err
			}
			x.seen[p] = kindImplicitDir
		}
	}
	return nil
}

// mkdir creates a directory with mode 0755 whatever the umask.
func (x *extractor) mkdir(name string) error {
	if err := x.root.Mkdir(name, dirPerm); err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if err := x.root.Chmod(name, dirPerm); err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	return nil
}

// file writes one regular file, enforcing the size limit before writing.
func (x *extractor) file(name string, hdr *tar.Header, content io.Reader) error {
	if x.maxSize > 0 && hdr.Size > x.maxSize-x.written {
		return &entryError{
			path: "entry " + strconv.Quote(name),
			msg:  fmt.Sprintf("%d bytes would exceed the limit of %d bytes", hdr.Size, x.maxSize),
			kind: ErrTooLarge,
		}
	}
	// O_EXCL: never reuse whatever might already be at the name.
	d, base, err := x.dirOf(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	perm := filePerm(fs.FileMode(hdr.Mode).Perm())
	if hdr.Size <= smallFile {
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(ctxReader{ctx: x.ctx, r: content}, data); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		x.written += hdr.Size
		fd, err := d.fd()
		if err != nil {
			return fmt.Errorf("%s: %w", name, unwrapPath(err))
		}
		job := writeJob{dirfd: fd, base: base, name: name, data: data, perm: perm}
		if x.w == nil && x.inline < inlineSmall {
			x.inline++
			return writeSmall(job)
		}
		if x.w == nil {
			x.w = newWriters()
		}
		x.w.jobs <- job
		return nil
	}
	f, err := d.root.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	// One buffer for every file: io.Copy into an *os.File would allocate
	// 32 KiB per file through File.ReadFrom (measured: a quarter of the
	// time of extracting 10,000 small files went to that and its GC).
	if x.buf == nil {
		x.buf = copyBuffers.Get().(*[32 << 10]byte)
	}
	n, err := io.CopyBuffer(onlyWriter{f}, ctxReader{ctx: x.ctx, r: io.LimitReader(content, hdr.Size)}, x.buf[:])
	x.written += n
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		// On the open descriptor: no second walk of the path through the
		// root.
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	return nil
}

// describeType names a tar entry type that Extract refuses.
func describeType(t byte) string {
	switch t {
	case tar.TypeChar:
		return "a character device"
	case tar.TypeBlock:
		return "a block device"
	case tar.TypeFifo:
		return "a FIFO"
	case tar.TypeGNUSparse:
		return "a sparse file"
	case tar.TypeDir:
		return "a directory"
	case tar.TypeSymlink:
		return "a symlink"
	case tar.TypeLink:
		return "a hardlink"
	}
	return "of type " + strconv.QuoteRune(rune(t))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops reading once ctx is done, so a long copy notices
// cancellation between chunks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ReadFile returns the contents of the regular file member name (e.g.
// "manifest.yaml") from a tar.zst stream. A member larger than limit bytes
// is refused with ErrTooLarge rather than cut short (limit <= 0: no limit);
// a missing member gives an error matching fs.ErrNotExist.
func ReadFile(r io.Reader, name string, limit int64) ([]byte, error) {
	want, err := cleanName(name)
	if err != nil {
		return nil, fmt.Errorf("read %s from archive: %w", name, err)
	}
	zr, err := newDecoder(r)
	if err != nil {
		return nil, fmt.Errorf("read %s from archive: %w", name, err)
	}
	defer releaseDecoder(zr)
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("read %s from archive: %w", name, fs.ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s from archive: %w", name, err)
		}
		if got, err := cleanName(hdr.Name); err != nil || got != want {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("read %s from archive: is %s, not a regular file", name, describeType(hdr.Typeflag))
		}
		if limit > 0 && hdr.Size > limit {
			return nil, fmt.Errorf("read %s from archive: %d bytes exceeds the limit of %d: %w", name, hdr.Size, limit, ErrTooLarge)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s from archive: %w", name, err)
		}
		return data, nil
	}
}
