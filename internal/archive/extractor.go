package archive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/distpac/distpac/internal/fsutil"
)

// extractor holds the state of one Extract call.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	seen    map[string]kind // clean name -> what was made there
	maxSize int64
	written int64           // regular file bytes so far
	count   tally           // the names in seen, against MaxEntries and MaxPathsTotal
	buf     *[32 << 10]byte // copy buffer, reused for every file (copyBuffers)

	// chain is the directories open from the destination (top, the
	// descriptor of its level 0) down to the one of the last entry
	// (dirs.go): archives list a directory's files together, and making
	// each in it is then one *at call on its descriptor.
	chain chain
	top   *os.File
	// w writes small files in parallel (writers.go), started at the small
	// file after the first inlineSmall, which the extractor writes itself
	// (inline counts them); older holds the directories left since the
	// last flush, in which w may still be writing.
	w      *writers
	inline int
	older  []int
	// digests, when not nil, gets the Digest of each regular file
	// written (ExtractDigests).
	digests *Digests
}

func newExtractor(ctx context.Context, root *os.Root, maxSize int64, digests *Digests) (*extractor, error) {
	top, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	return &extractor{ctx: ctx, root: root, top: top, chain: newChain(int(top.Fd())), seen: map[string]kind{}, maxSize: maxSize, digests: digests}, nil
}

// flush waits for the writers to finish every queued file, then closes
// the directories only they used; it returns their first error.
func (x *extractor) flush() error {
	var err error
	if x.w != nil {
		err = x.w.drain()
		x.w = nil
	}
	for _, fd := range x.older {
		unix.Close(fd)
	}
	x.older = x.older[:0]
	for i := range x.chain.dirs {
		x.chain.dirs[i].queued = false
	}
	return err
}

// close ends the extraction's writers and directories, whatever happened
// (the root is Extract's to close).
func (x *extractor) close() {
	x.flush()
	x.chain.closeAll()
	x.top.Close()
	if x.buf != nil {
		copyBuffers.Put(x.buf)
		x.buf = nil
	}
}

// writeback writes a large file and starts the kernel writing what it
// wrote to the disk every writebackEvery bytes, without waiting for it
// (fsutil.StartWriteback). The install makes everything it moves into
// the prefix durable before it commits (place.Apply, one syncfs); what
// was started here is on the disk by then, so that wait is for the
// tail, not the whole payload (and an install over a slow link, whose
// pages the kernel would keep up to 30 s, writes as it downloads). It
// hides the file's ReadFrom too, so that io.CopyBuffer uses the buffer
// it is given.
type writeback struct {
	f            *os.File
	off, started int64
	h            hash.Hash // when not nil, gets what was written
}

// writebackEvery: large writes for the disk, and a small tail left to
// the fsync: the 32 installs of a swarm row end within a second of each
// other, and each leaves at most this much unwritten (32 MiB in all,
// 0.05 s of this VM's disk at 584 MB/s; at 4 MiB, 0.2 s).
const writebackEvery = 1 << 20

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if w.h != nil {
		w.h.Write(p[:n])
	}
	w.off += int64(n)
	if w.off-w.started >= writebackEvery {
		w.start()
	}
	return n, err
}

// start starts the writeback of what was written since the last start; a
// failure shows at the sync.
func (w *writeback) start() {
	if w.off > w.started {
		fsutil.StartWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
}

func unsafeEntry(name, msg string) error {
	return &entryError{path: "entry " + strconv.Quote(shortName(name)), msg: msg, kind: ErrUnsafe}
}

// see records what was made at name, counting it against the bounds of a
// tree (MaxEntries, MaxPathsTotal): an archive of a few KB may hold a
// million empty files.
func (x *extractor) see(name string, k kind) error {
	if err := x.count.add(name); err != nil {
		return &entryError{path: "entry " + strconv.Quote(shortName(name)), msg: err.Error(), kind: ErrTooLarge}
	}
	x.seen[name] = k
	return nil
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
		if err := x.see(name, kindDir); err != nil {
			return err
		}
		if err := x.mkdir(name); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := x.see(name, kindFile); err != nil {
			return err
		}
		if err := x.file(name, hdr, content); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if msg := linkProblem(name, hdr.Linkname, "the destination"); msg != "" {
			return unsafeEntry(name, msg)
		}
		if err := x.see(name, kindSymlink); err != nil {
			return err
		}
		dir, base := splitName(name)
		d, err := x.cd(dir)
		if err == nil {
			err = unix.Symlinkat(hdr.Linkname, d.fd, base)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return unsafeEntry(name, "hardlink to "+strconv.Quote(hdr.Linkname)+": "+err.Error())
		}
		if x.seen[target] != kindFile {
			return unsafeEntry(name, "hardlink to "+strconv.Quote(hdr.Linkname)+" is not to an extracted regular file")
		}
		if err := x.see(name, kindFile); err != nil {
			return err
		}
		if err := x.flush(); err != nil { // the target may still be queued
			return err
		}
		if err := x.root.Link(target, name); err != nil {
			return fmt.Errorf("%s: %w", name, unwrapPath(err))
		}
	}
	return nil
}

// parents checks every ancestor of name: an extracted symlink or file there
// would redirect the entry, so it is refused; a missing one is created.
// It looks from the deepest ancestor up and stops at the first directory
// made: that one's own ancestors were checked when it was. So an entry
// costs one lookup, not one per level (each a hash of the whole prefix:
// MaxDepth of them over a name of MaxPathLen bytes, for every entry).
func (x *extractor) parents(name string) error {
	end := len(name) // name[:end] is the ancestor being looked at
	var missing []int
	for {
		i := strings.LastIndexByte(name[:end], '/')
		if i < 0 {
			break
		}
		end = i
		p := name[:end]
		k := x.seen[p]
		if k == kindDir || k == kindImplicitDir {
			break
		}
		switch k {
		case kindSymlink:
			return unsafeEntry(name, "path goes through the symlink "+strconv.Quote(p))
		case kindFile:
			return unsafeEntry(name, "path goes through the file "+strconv.Quote(p))
		}
		missing = append(missing, end)
	}
	for j := len(missing) - 1; j >= 0; j-- {
		p := name[:missing[j]]
		if err := x.see(p, kindImplicitDir); err != nil {
			return err
		}
		if err := x.mkdir(p); err != nil {
			return err
		}
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
	dir, base := splitName(name)
	d, err := x.cd(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	perm := filePerm(fs.FileMode(hdr.Mode).Perm())
	if hdr.Size <= smallFile {
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(ctxReader{ctx: x.ctx, r: content}, data); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		x.written += hdr.Size
		job := writeJob{dirfd: d.fd, base: base, name: name, data: data, perm: perm, digests: x.digests}
		if x.w == nil && x.inline < inlineSmall {
			x.inline++
			return writeSmall(job)
		}
		if x.w == nil {
			x.w = newWriters()
		}
		d.queued = true
		x.w.jobs <- job
		return nil
	}
	// O_EXCL|O_NOFOLLOW: never reuse or follow whatever might already be
	// at the name.
	fd, err := retryEINTR(func() (int, error) {
		return unix.Openat(d.fd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	// One buffer for every file: io.Copy into an *os.File would allocate
	// 32 KiB per file through File.ReadFrom (measured: a quarter of the
	// time of extracting 10,000 small files went to that and its GC).
	if x.buf == nil {
		x.buf = copyBuffers.Get().(*[32 << 10]byte)
	}
	wb := &writeback{f: f}
	if x.digests != nil {
		wb.h = sha256.New()
	}
	n, err := io.CopyBuffer(wb, ctxReader{ctx: x.ctx, r: io.LimitReader(content, hdr.Size)}, x.buf[:])
	wb.start()
	x.written += n
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		// On the open descriptor: no second walk of the path through the
		// root.
		err = f.Chmod(perm)
	}
	if err == nil && wb.h != nil {
		var sum [sha256.Size]byte
		x.digests.put(name, fd, [sha256.Size]byte(wb.h.Sum(sum[:0])))
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
