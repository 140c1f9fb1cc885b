package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"
)

// epochSeconds is the modification time of every entry (Unix seconds): a
// fixed time keeps the archive, and so the torrent's infohash, independent of
// when files were touched.
const epochSeconds = 0

// Write writes a deterministic tar.zst of entries (as returned by Scan) read
// from root, in the given order, and returns the installed size: the sum of
// the regular files' sizes.
//
// Headers carry only name, type, normalised mode, size and link target; the
// tar format is PAX, which is plain ustar unless a name is too long for it.
// The zstd encoder runs at SpeedDefault on one goroutine without a
// dictionary, so the same input always gives the same bytes. A file whose
// size differs from its entry, or that changes while it is copied, is an
// error: the archive would not match what Scan validated.
func Write(w io.Writer, root string, entries []Entry) (installedSize int64, err error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return 0, fmt.Errorf("write archive: %w", err)
	}
	defer r.Close()
	zw, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(1),
	)
	if err != nil {
		return 0, fmt.Errorf("write archive: %w", err)
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		n, err := writeEntry(tw, r, e)
		if err != nil {
			zw.Close()
			return 0, fmt.Errorf("write archive: %w", err)
		}
		installedSize += n
	}
	if err := tw.Close(); err != nil {
		zw.Close()
		return 0, fmt.Errorf("write archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("write archive: %w", err)
	}
	return installedSize, nil
}

// writeEntry writes one header (and the file's content) and returns the
// number of content bytes.
func writeEntry(tw *tar.Writer, r *os.Root, e Entry) (int64, error) {
	name, err := cleanName(e.Path)
	if err != nil || name != e.Path || name == "." {
		return 0, fmt.Errorf("entry %q: not a clean relative path", e.Path)
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
		if msg := linkProblem(name, e.Linkname, "the package"); msg != "" {
			return 0, &entryError{path: name, msg: msg, kind: ErrUnsafe}
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Linkname
		hdr.Mode = int64(symlinkPerm)
	case e.Mode.IsRegular():
		hdr.Typeflag = tar.TypeReg
		hdr.Mode = int64(filePerm(e.Mode.Perm()))
		hdr.Size = e.Size
	default:
		return 0, &entryError{path: name, msg: "is " + DescribeMode(e.Mode) + " (only regular files, directories and symlinks are allowed)", kind: ErrUnsafe}
	}
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
	n, err := io.Copy(tw, io.LimitReader(f, e.Size))
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
