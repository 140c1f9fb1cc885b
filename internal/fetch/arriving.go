package fetch

// Unpacking an archive while it downloads.
//
// In a swarm every client's download ends within a second of the others',
// and an archive's extraction then took the cores with everyone else's:
// at N=32 on two cores, 32 installs unpacked 16 MiB each after the last
// piece came, 0.9-1.1 s of the row's 10.6-11 s (dist-bench). The engine now
// asks first for the pieces after what it has from the archive's start
// (third_party patch 42) and reports that complete prefix; an install
// unpacks it as it grows, so that little is left to unpack at the end.
// The archive's size and SHA-256 are checked in the same read as before:
// a streamed extraction that fails for any reason but the command's end is
// done again from the complete file, as it would have been.

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
)

// grew records an archive's complete prefix (Events.Grew): one that
// grew short of the whole archive, which completion reports.
func (f *Fetch) grew(r catalog.Package, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.pending[r.Archive] || n <= f.prefix[r.Archive] || n >= r.Size {
		return
	}
	f.prefix[r.Archive] = n
	f.wake()
}

// wake tells everyone waiting on changed that something did. f.mu held.
func (f *Fetch) wake() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// arrival is what is known of an archive being fetched: its complete
// prefix, whether all of it is in the cache (never after the fetch
// failed), the fetch's failure, and a channel closed at the next change.
func (f *Fetch) arrival(archive string) (prefix int64, complete bool, changed <-chan struct{}, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prefix[archive], !f.pending[archive] && f.err == nil, f.changed, f.err
}

// Complete reports whether all of an archive is in the cache (never after
// the fetch failed).
func (f *Fetch) Complete(archive string) bool {
	_, complete, _, _ := f.arrival(archive)
	return complete
}

// Failure is the fetch's first failure, or nil.
func (f *Fetch) Failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// WaitStart returns once the archive can be unpacked: it is in the cache,
// or part of it from its start is, or the fetch failed.
func (f *Fetch) WaitStart(ctx context.Context, archive string) error {
	return f.waitFor(ctx, archive, true)
}

// Arriving is a reader of archive, of size bytes, at path in the cache as
// it downloads, until ctx ends; the caller closes it. It tells the fetch
// that an archive is unpacked as it arrives: that extraction made its
// decoder already, so the fetch warms none half-way (stage.Warm).
func (f *Fetch) Arriving(ctx context.Context, archive, path string, size int64) *Arriving {
	f.streaming.Store(true)
	return &Arriving{ctx: ctx, f: f, archive: archive, path: path, size: size}
}

// Arriving reads an archive from the cache as it downloads: up to its
// complete prefix, waiting for more, and to its end once it is complete.
// The engine writes it at path+".part" and renames it to path when it is
// complete; an open descriptor follows the rename.
type Arriving struct {
	ctx     context.Context
	f       *Fetch
	archive string
	path    string
	size    int64
	file    *os.File
	off     int64
}

func (a *Arriving) Read(p []byte) (int, error) {
	for {
		prefix, complete, changed, err := a.f.arrival(a.archive)
		if err != nil {
			return 0, err
		}
		end := prefix
		if complete {
			end = a.size
		}
		if a.off >= a.size {
			return 0, io.EOF
		}
		if a.off < end {
			if err := a.open(); err != nil {
				return 0, err
			}
			n, err := a.file.ReadAt(p[:min(int64(len(p)), end-a.off)], a.off)
			a.off += int64(n)
			if errors.Is(err, io.EOF) {
				// Shorter than the engine said: the size check fails.
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		select {
		case <-changed:
		case <-a.ctx.Done():
			return 0, a.ctx.Err()
		}
	}
}

// open opens the archive's file the first time: the partial one, or the
// complete one if it was renamed meanwhile.
func (a *Arriving) open() error {
	if a.file != nil {
		return nil
	}
	var err error
	for range 2 {
		for _, name := range []string{cache.PartName(a.path), a.path} {
			if a.file, err = fsutil.OpenRegular(name, true); err == nil || !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return err
}

// Close closes the archive's file, if it was opened.
func (a *Arriving) Close() {
	if a.file != nil {
		a.file.Close()
	}
}
