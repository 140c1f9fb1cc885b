package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/fsutil"
)

// ErrCorrupt marks an archive whose size or SHA-256 is not the catalog's.
var ErrCorrupt = errors.New("archive does not match the catalog")

// Archive is a cached archive and what the catalog says of it.
type Archive struct {
	Path   string
	Size   int64
	SHA256 string
	// MaxInstalled stops extraction beyond the installed size the catalog
	// declares, so a decompression bomb cannot fill the disk.
	MaxInstalled int64
	// Digests asks for the Digest of each file extracted, for Build
	// (Options.Extracted); without it Extract returns none.
	Digests bool
}

// Warm readies the decoder of the next Extract, for an archive whose
// content is about installedSize bytes, while a download leaves the cores
// idle (archive.Warm).
func Warm(installedSize int64) { archive.Warm(installedSize) }

// Extract unpacks a into dir (which must not exist or be empty), computing
// the archive's SHA-256 in the same read, and with a.Digests each file's
// (archive.ExtractDigests). When the size or hash is not the catalog's,
// dir is removed and the error matches ErrCorrupt: nothing extracted from
// an archive that fails its check is ever used.
func Extract(ctx context.Context, a Archive, dir string) (*archive.Digests, error) {
	f, err := fsutil.OpenRegular(a.Path, true) // a FIFO would block the open
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if fi.Size() != a.Size {
		return nil, fmt.Errorf("%w: %s is %d bytes, the catalog says %d", ErrCorrupt, a.Path, fi.Size(), a.Size)
	}
	// The whole archive is there to read as fast as the decompression
	// goes: its hash runs on a goroutine of its own beside it (hasher).
	// A package of 256 MiB (random, no install.sh) installed from the
	// cache in 0.44-0.46 s against 0.52-0.57 s with the hash in the
	// reading goroutine (four alternations, two cores), for 0.04-0.05 s
	// more CPU (the copies and hand-overs).
	if a.Size >= asyncHashFrom {
		h := newHasher(sha256.New())
		return extract(ctx, f, a, dir, h, h.Sum)
	}
	h := sha256.New()
	return extract(ctx, f, a, dir, h, h.Sum)
}

// asyncHashFrom is the archive size from which Extract hashes on a
// goroutine of its own: below it, handing the bytes over costs about what
// hashing them does.
const asyncHashFrom = 1 << 20

// ExtractArriving is Extract of an archive still arriving: r gives its
// bytes from the start as they come (blocking until more are there), at
// most a.Size of them, then io.EOF. The same check applies: what r gave
// must have the catalog's SHA-256, or dir is removed and the error
// matches ErrCorrupt. The hash runs in the reading goroutine: the
// download sets the pace, and in dist-bench's swarm rows, where 32
// installs share two cores, a goroutine of its own only adds the copies
// and its wake-ups.
func ExtractArriving(ctx context.Context, r io.Reader, a Archive, dir string) (*archive.Digests, error) {
	h := sha256.New()
	return extract(ctx, r, a, dir, h, h.Sum)
}

// extract unpacks r into dir, writing what it reads to h and checking
// sum's result against the catalog's SHA-256 (sum is called once, on
// every path: it ends a hasher's goroutine).
func extract(ctx context.Context, r io.Reader, a Archive, dir string, h io.Writer, sum func([]byte) []byte) (*archive.Digests, error) {
	var digests *archive.Digests
	var xerr error
	if a.Digests {
		digests, xerr = archive.ExtractDigests(ctx, io.TeeReader(r, h), dir, a.MaxInstalled)
	} else {
		xerr = archive.Extract(ctx, io.TeeReader(r, h), dir, a.MaxInstalled)
	}
	// The decoder stops at the end of the zstd frame; hash what follows
	// (through a buffer of the pool: os.File's WriteTo would make one).
	b := hashBuffers.Get().(*[64 << 10]byte)
	_, rerr := io.CopyBuffer(h, struct{ io.Reader }{r}, b[:])
	hashBuffers.Put(b)
	got := hex.EncodeToString(sum(nil))
	if ctx.Err() != nil {
		os.RemoveAll(dir)
		return nil, ctx.Err()
	}
	if rerr != nil && xerr == nil {
		xerr = fmt.Errorf("read %s: %w", a.Path, rerr)
	}
	if rerr == nil {
		if got != a.SHA256 {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: %s has sha256 %s, the catalog says %s (corrupt or tampered with)", ErrCorrupt, a.Path, got, a.SHA256)
		}
	}
	if xerr != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("unpack %s into %s: %w", a.Path, dir, xerr)
	}
	return digests, nil
}
