package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/distpac/distpac/internal/procs"
)

const (
	// maxTrailing is how many decompressed bytes may follow the tar footer
	// (other tar tools pad to 10 KiB records); more is a malformed archive.
	maxTrailing = 1 << 20
)

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
// filesystem calls are also made in directories opened from dest one name
// at a time without following a symlink (dirs.go), or through an os.Root
// (hardlinks), so even a bug here cannot follow a link out of dest. Writing stops with an error matching
// ErrTooLarge once regular file bytes would exceed maxSize (<= 0: no limit).
// Modes are normalised: directories 0755, files 0755 or 0644.
//
// On any error, including ctx cancellation, Extract removes what it created,
// leaving dest as it found it.
func Extract(ctx context.Context, r io.Reader, dest string, maxSize int64) error {
	return extract(ctx, r, dest, maxSize, nil)
}

// ExtractDigests is Extract that also returns the Digest of each regular
// file it wrote, hashed as it was written: the install records every
// file's SHA-256, and reading the tree again for it was, at the end of
// each install, a second pass over the whole payload (16 ms of a 16 MiB
// package's CPU here, after its download, while 32 installs of a swarm
// finish together; 0.8 s of a 1 GiB one).
func ExtractDigests(ctx context.Context, r io.Reader, dest string, maxSize int64) (*Digests, error) {
	d := &Digests{m: map[string]Digest{}}
	if err := extract(ctx, r, dest, maxSize, d); err != nil {
		return nil, err
	}
	return d, nil
}

// extract is Extract, recording the files' Digests in digests when it is
// not nil.
func extract(ctx context.Context, r io.Reader, dest string, maxSize int64, digests *Digests) (err error) {
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
	zr, err := newDecoder(ctxReader{ctx: ctx, r: r}, maxSize)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer releaseDecoder(zr)

	x, err := newExtractor(ctx, root, maxSize, digests)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
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
	zr, err := newDecoder(r, 0)
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
