package publish

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/pkgdir"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// build writes the archive into staging and makes its catalog row.
func (p *Publisher) build(ctx context.Context, pk *pkgdir.Package, staging string) (catalog.Package, error) {
	m := pk.Manifest
	name := pk.ArchiveName()
	path := filepath.Join(staging, name)
	f, err := os.Create(path)
	if err != nil {
		return catalog.Package{}, fmt.Errorf("%s: %w", pk.Dir, err)
	}
	a, err := writeArchive(ctx, f, pk.Dir, pk.Entries)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return catalog.Package{}, fmt.Errorf("%s: archive: %w", pk.Dir, err)
	}
	// The piece figures show how the piece hasher's bet went (make bench-add).
	p.logger().Debug("archive built", "archive", name, "bytes", a.size,
		"streamed", a.pieces.Streamed, "reread", a.pieces.Reread)
	webSeed := ""
	if p.Config.WebSeed {
		webSeed = WebSeedURL(p.Config)
	}
	var seeders []netip.AddrPort
	if addr, ok := p.Config.SeederAddr(); ok {
		seeders = append(seeders, addr)
	}
	meta, err := torrentmeta.FromPieces(name, a.size, a.pieces, p.Config.Trackers(), webSeed, seeders...)
	if err != nil {
		return catalog.Package{}, err
	}
	return catalog.Package{
		Name:          m.Name,
		Version:       m.Version.String(),
		Archive:       name,
		Size:          a.size,
		InstalledSize: a.installed,
		SHA256:        a.sha256,
		InfoHash:      meta.InfoHash,
		Magnet:        meta.Magnet,
		Torrent:       meta.Torrent,
		Description:   m.Description,
		License:       m.License,
		Homepage:      m.Homepage,
		Depends:       depStrings(m.Depends),
		Conflicts:     depStrings(m.Conflicts),
		Published:     time.Now().UTC().Truncate(time.Second),
	}, ctx.Err()
}

// builtArchive is what one pass over a package gives.
type builtArchive struct {
	size, installed int64
	sha256          string // lowercase hex
	pieces          torrentmeta.Pieces
}

// writeArchive writes the archive of the package at dir to f and computes
// its SHA-256 and piece hashes in the same pass: the encoder writes into a
// fanOut whose stages write f, hash SHA-256 and hash pieces side by side.
// The input is read once and the archive is read back only for pieces the
// piece hasher's forecast missed (torrentmeta.PieceHasher).
func writeArchive(ctx context.Context, f *os.File, dir string, entries []archive.Entry) (builtArchive, error) {
	var prog archive.Progress
	sum := sha256.New()
	pieces := torrentmeta.NewPieceHasher()
	out := newArchiveFile(f)
	fan := newFanOut(ctx, prog.In,
		out.write,
		func(c chunk) error {
			sum.Write(c.b)
			return nil
		},
		func(c chunk) error {
			pieces.Add(c.b, forecast(c, prog.Total())) // known before the first chunk
			return nil
		},
	)
	installed, werr := archive.WriteProgress(fan, dir, entries, &prog)
	size, ferr := fan.close()
	if err := out.buffered(); ferr == nil { // Finish may read pieces back
		ferr = err
	}
	if werr != nil {
		return builtArchive{}, werr
	}
	if ferr != nil {
		return builtArchive{}, ferr
	}
	ps, err := pieces.Finish(ctx, f, size)
	if err != nil {
		return builtArchive{}, err
	}
	return builtArchive{size: size, installed: installed, sha256: hex.EncodeToString(sum.Sum(nil)), pieces: ps}, nil
}

// archiveFile is the file stage of writeArchive: it writes the archive's
// chunks to f, in order, directly to the disk where it can.
//
// Through the page cache, the kernel's share of writing a 691 MiB archive
// was 0.84–1.93 s of CPU (dd bs=1M; in add's profile, 0.98 s of 8.3 s),
// and its writeback threads took more on the same two cores the encoder
// needs. With O_DIRECT the same write took 0.17–0.18 s of CPU and
// 0.62–0.69 s of wall time, fsync included, on this machine's disk. The
// fanOut's buffers are aligned and all but the last chunk are whole
// buffers, so every chunk but the last can go directly; the last, and
// every chunk where direct I/O is refused, goes through the cache, with
// its writeback started as it goes.
type archiveFile struct {
	f       *os.File
	direct  bool
	flushed int64 // bytes handed to the kernel's writeback
}

func newArchiveFile(f *os.File) *archiveFile {
	return &archiveFile{f: f, direct: fsutil.SetDirect(f, true) == nil}
}

func (a *archiveFile) write(c chunk) error {
	if a.direct && len(c.b)%fsutil.DirectAlign != 0 {
		if err := a.buffered(); err != nil {
			return err
		}
	}
	n, err := a.f.Write(c.b)
	if err != nil && a.direct && n == 0 {
		// Refused before anything was written (EINVAL: an alignment this
		// file system wants and DirectAlign is not): write through the
		// cache from here on.
		if a.buffered() == nil {
			_, err = a.f.Write(c.b)
		}
	}
	if err != nil || a.direct {
		return err
	}
	if end := c.off + int64(len(c.b)); end-a.flushed >= writebackEvery {
		fsutil.StartWriteback(a.f, a.flushed, end-a.flushed) // a failure shows at the fsync
		a.flushed = end
	}
	return nil
}

// buffered turns direct I/O off, for the last chunk and for reading back.
func (a *archiveFile) buffered() error {
	if !a.direct {
		return nil
	}
	a.direct = false
	return fsutil.SetDirect(a.f, false)
}

// writebackEvery is how often archiveFile starts the writeback of what it
// wrote through the cache: without it, the fsync of a 658 MiB archive
// waited 0.27–0.32 s after the last byte on this machine; with it, none,
// and the whole write took 0.07–0.13 s less (three runs each).
const writebackEvery = 16 << 20

// forecast bounds and guesses the archive's final size after chunk c, from
// the tar bytes the encoder had taken when c was handed on (c.in) of
// tarSize. Bound: zstd stores a block it cannot shrink with a 3-byte header
// per 128 KiB, so what is still to come is at most the tar bytes left plus
// 1/1024, plus what was in flight (at most three 128 KiB encoder blocks and
// the fanOut's partial buffer) and the frames' headers and ends: 2 MiB
// covers those. (Of an archive of several frames, c.in counts only the
// frames' share already written, archive.Progress, so the frames being
// compressed are in "left".)
// Guess: the tar bytes left compress as those so far did.
func forecast(c chunk, tarSize int64) torrentmeta.Forecast {
	out := c.off + int64(len(c.b))
	left := max(tarSize-c.in, 0)
	f := torrentmeta.Forecast{Max: out + left + left>>10 + 2<<20}
	if c.in > 0 {
		f.Likely = out + int64(float64(left)*float64(out)/float64(c.in))
	}
	return f
}

// sameContent reports whether the archive at a, which the catalog says has
// SHA-256 aSum, holds the same tar stream as the archive at b. a is hashed
// as it is read: a store file that is not the catalog's archive is an
// error, never the same content.
func sameContent(ctx context.Context, a, aSum, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	h := sha256.New()
	same, err := archive.SameContent(ctx, bufio.NewReaderSize(io.TeeReader(fa, h), 1<<20), bufio.NewReaderSize(fb, 1<<20))
	if err != nil {
		return false, fmt.Errorf("%s: %w", a, err)
	}
	if !same {
		return false, nil
	}
	if _, err := io.Copy(h, fa); err != nil { // what follows the frames
		return false, fmt.Errorf("%s: %w", a, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != aSum {
		return false, fmt.Errorf("%s has sha256 %.12s…, not the catalog's %.12s…: the archive store was changed", a, got, aSum)
	}
	return true, nil
}

func depStrings(ds []manifest.Dependency) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// WebSeedURL is the url-list entry torrents carry when web_seed is on: the
// folder under public_url where the catalog server serves the archives.
func WebSeedURL(cfg *config.Server) string {
	return strings.TrimSuffix(cfg.PublicURL, "/") + "/packages/"
}
