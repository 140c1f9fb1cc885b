package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// epochSeconds is the modification time of every entry (Unix seconds): a
// fixed time keeps the archive, and so the torrent's infohash, independent of
// when files were touched.
const epochSeconds = 0

// encoderConcurrency is the zstd encoder's goroutine count. With more than
// one, its streaming encoder finds matches for a block on one goroutine
// while another entropy-codes the previous block and writes it out: the
// same sequence of the same steps, so the bytes are those of one goroutine
// (TestWriteIndependentOfConcurrency holds that for 1, 2 and 4). Alone the
// encoder gains nothing from it (1 GiB of half random, half text-like
// input: 4.2 s either way on this 2-core machine), but in dist-server add,
// where writing and hashing the output take CPU beside it, add took
// 4.4–5.5 s with two against 5.4–5.7 s with one (three runs each). More
// than two gives nothing more: the stages are two.
const encoderConcurrency = 2

// copyBufferSize is the read size for file content: 32 KiB reads (io.Copy's
// default) cost 32,768 read calls per GiB.
const copyBufferSize = 512 << 10

// Write writes a deterministic tar.zst of entries (as returned by Scan) read
// from root, in the given order, and returns the installed size: the sum of
// the regular files' sizes.
//
// Headers carry only name, type, normalised mode, size and link target; the
// tar format is PAX, which is plain ustar unless a name is too long for it.
// The zstd encoder runs at SpeedDefault without a dictionary, so the same
// input always gives the same bytes; a tar stream longer than frameSize is
// cut into frames at fixed offsets, compressed side by side. A file whose size differs from its
// entry, or that changes while it is copied, is an error: the archive would
// not match what Scan validated.
func Write(w io.Writer, root string, entries []Entry) (installedSize int64, err error) {
	return write(w, root, entries, nil, encoderConcurrency, frameSize, frameWorkers())
}

// Progress is how far a WriteProgress has got, readable from other
// goroutines while it runs.
type Progress struct {
	in, total atomic.Int64
}

// In is the number of tar stream bytes handed to the compressor so far;
// TarSize of the same entries is the total. Of an archive of more than one
// frame, it is the bytes of the frames written to w so far, and of the one
// being written the share of its output written.
func (p *Progress) In() int64 { return p.in.Load() }

// Total is TarSize of the entries, set before the first byte reaches w.
func (p *Progress) Total() int64 { return p.total.Load() }

// WriteProgress is Write, counting into p as it goes, so that a consumer of
// w can estimate the archive's final size before it is known.
func WriteProgress(w io.Writer, root string, entries []Entry, p *Progress) (installedSize int64, err error) {
	return write(w, root, entries, p, encoderConcurrency, frameSize, frameWorkers())
}

// write is Write with its knobs: the goroutines of a one-frame encoder,
// the tar bytes per frame and the frames compressed at once. The bytes
// depend only on frame.
func write(w io.Writer, root string, entries []Entry, p *Progress, concurrency, frame, workers int) (installedSize int64, err error) {
	tarSize, err := TarSize(entries)
	if err != nil {
		return 0, fmt.Errorf("write archive: %w", err)
	}
	if p != nil {
		p.total.Store(tarSize)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return 0, fmt.Errorf("write archive: %w", err)
	}
	defer r.Close()
	var zw io.WriteCloser
	var tarOut io.Writer
	var fw *frameWriter
	if tarSize <= int64(frame) {
		enc, err := newEncoder(w, concurrency)
		if err != nil {
			return 0, fmt.Errorf("write archive: %w", err)
		}
		zw, tarOut = enc, enc
		if concurrency > 1 {
			tarOut = &yieldingWriter{w: enc}
		}
		if p != nil {
			tarOut = &countingWriter{w: tarOut, n: &p.in}
		}
	} else {
		if fw, err = newFrameWriter(w, frame, workers, p); err != nil {
			return 0, fmt.Errorf("write archive: %w", err)
		}
		zw, tarOut = fw, fw
	}
	// abort ends the encoder after an error of the tar stream: frames not
	// yet written are dropped, not compressed and written.
	abort := func(err error) {
		if fw != nil {
			fw.fail(err)
		}
		zw.Close()
	}
	tw := tar.NewWriter(tarOut)
	buf := make([]byte, copyBufferSize)
	for _, e := range entries {
		n, err := writeEntry(tw, r, e, buf)
		if err != nil {
			abort(err)
			return 0, fmt.Errorf("write archive: %w", err)
		}
		installedSize += n
	}
	if err := tw.Close(); err != nil {
		abort(err)
		return 0, fmt.Errorf("write archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("write archive: %w", err)
	}
	return installedSize, nil
}

// countingWriter adds the bytes written through it to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// yieldingWriter hands the tar stream to a concurrent zstd encoder in
// pieces that end where its blocks end, and yields the processor after each
// block. On each full block the encoder starts a goroutine to find the
// block's matches (the one serial stage of dist-server add) and returns; the
// new goroutine waits in its creator's run slot until the writer blocks,
// and the writer first copies in the whole next block. Yielding starts it
// at once. In an execution trace of writeArchive on the 1 GiB input of make
// bench-add, the match-finding goroutines spent 0.55–1.44 s runnable and not
// running, and 0.75–1.39 s waiting for the previous block's entropy coding;
// with the yield, 0.09 s and 0.33 s (the machine shared, so wall times
// varied more than that).
type yieldingWriter struct {
	w io.Writer
	n int64 // bytes written so far
}

// encoderBlock is the zstd encoder's block size: the format's largest,
// which klauspost/compress uses whenever the window is at least as large.
const encoderBlock = 128 << 10

func (y *yieldingWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), encoderBlock-int(y.n%encoderBlock))
		n, err := y.w.Write(p[:k])
		written += n
		y.n += int64(n)
		if err != nil {
			return written, err
		}
		p = p[k:]
		if y.n%encoderBlock == 0 {
			runtime.Gosched()
		}
	}
	return written, nil
}

// TarSize is the exact length of the tar stream Write makes of entries (the
// archive before compression): the headers Write would write, each file's
// content padded to 512 bytes, and the two zero blocks that end the stream.
// It reads no file.
func TarSize(entries []Entry) (int64, error) {
	var total countingWriter
	total.n = new(atomic.Int64)
	total.w = io.Discard
	var t tally
	for _, e := range entries {
		if err := t.add(e.Path); err != nil {
			return 0, fmt.Errorf("tar size: %w", err)
		}
		hdr, err := header(e)
		if err != nil {
			return 0, fmt.Errorf("tar size: %w", err)
		}
		// A fresh writer per entry: it checks nothing across entries, and
		// never sees the content it was promised.
		if err := tar.NewWriter(&total).WriteHeader(hdr); err != nil {
			return 0, fmt.Errorf("tar size: %s: %w", e.Path, err)
		}
		total.n.Add((hdr.Size + blockSize - 1) / blockSize * blockSize)
	}
	return total.n.Load() + 2*blockSize, nil
}

// blockSize is tar's block.
const blockSize = 512

// header is the normalised tar header of e.
func header(e Entry) (*tar.Header, error) {
	name, err := checkEntry(e)
	if err != nil {
		return nil, err
	}
	hdr := &tar.Header{
		Name:    name,
		ModTime: time.Unix(epochSeconds, 0),
		Format:  tar.FormatPAX,
	}
	switch {
	case e.Mode.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/" // the conventional spelling, so other tar tools agree
		hdr.Mode = int64(dirPerm)
	case e.Mode&fs.ModeSymlink != 0:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Linkname
		hdr.Mode = int64(symlinkPerm)
	default: // a regular file: checkEntry allows nothing else
		hdr.Typeflag = tar.TypeReg
		hdr.Mode = int64(filePerm(e.Mode.Perm()))
		hdr.Size = e.Size
	}
	return hdr, nil
}

// writeEntry writes one header (and the file's content, read through buf)
// and returns the number of content bytes.
func writeEntry(tw *tar.Writer, r *os.Root, e Entry, buf []byte) (int64, error) {
	hdr, err := header(e)
	if err != nil {
		return 0, err
	}
	name := e.Path
	if hdr.Typeflag != tar.TypeReg {
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return 0, nil
	}

	f, err := r.Open(name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: is no longer a regular file", name)
	}
	if info.Size() != e.Size {
		return 0, fmt.Errorf("%s: size changed since scan (%d bytes, was %d)", name, info.Size(), e.Size)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	n, err := io.CopyBuffer(tw, io.LimitReader(f, e.Size), buf)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if n != e.Size {
		return 0, fmt.Errorf("%s: file shrank while being archived (%d of %d bytes)", name, n, e.Size)
	}
	// A file that grew would be silently cut at its old size; probe for
	// more content instead.
	var probe [1]byte
	if m, _ := f.Read(probe[:]); m > 0 {
		return 0, fmt.Errorf("%s: file grew while being archived (more than %d bytes)", name, e.Size)
	}
	return n, nil
}
