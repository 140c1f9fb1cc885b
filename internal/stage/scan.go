package stage

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/state"
)

// Scan records every entry under root (root itself excluded): directories,
// regular files with size and SHA-256, symlinks with their target, each with
// its permission bits. Any other type (FIFO, socket, device) is refused:
// a package places only files, directories and symlinks.
//
// Regular files are hashed on every core while the walk goes on, and their
// size and mode come from the open file (fstat) rather than a separate
// lstat: 10,000 files of 1 KiB took 100 ms on one core, 60 ms on two after
// the walk, and 45 ms walked and hashed together.
func Scan(root string) (files []state.File, bytes int64, err error) {
	var (
		entries []*state.File
		jobs    = make(chan hashJob, 256)
		failed  atomic.Bool
		g       errgroup.Group
	)
	for range min(runtime.NumCPU(), 8) {
		g.Go(func() error {
			h, buf := sha256.New(), make([]byte, 64<<10)
			for j := range jobs {
				if err := hashInto(j.path, j.file, h, buf); err != nil {
					failed.Store(true)
					for range jobs { // let the walk finish sending
					}
					return err
				}
			}
			return nil
		})
	}
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if failed.Load() {
			return filepath.SkipAll
		}
		if p == root {
			return nil
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		if err := state.CheckRelPath(rel); err != nil {
			return fmt.Errorf("staged %s: %w", rel, err)
		}
		f := &state.File{Path: rel}
		entries = append(entries, f)
		if d.Type().IsRegular() {
			f.Type = state.TypeFile
			jobs <- hashJob{path: p, file: f}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f.Mode = state.Perm(info.Mode())
		switch {
		case info.IsDir():
			f.Type = state.TypeDir
		case info.Mode()&fs.ModeSymlink != 0:
			f.Type = state.TypeSymlink
			if f.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("staged %s is %s: packages place only files, directories and symlinks", rel, archive.DescribeMode(info.Mode()))
		}
		return nil
	})
	close(jobs)
	if err = cmp.Or(walkErr, g.Wait()); err != nil {
		return nil, 0, fmt.Errorf("scan %s: %w", root, err)
	}
	files = make([]state.File, len(entries))
	for i, f := range entries {
		files[i] = *f
		bytes += f.Size
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, bytes, nil
}

// hashJob is one regular file for Scan's hashers.
type hashJob struct {
	path string
	file *state.File
}

// hashInto opens p, which the walk saw as a regular file, without
// following a symlink, and sets f's mode, size and SHA-256 from what it
// reads.
func hashInto(p string, f *state.File, h hash.Hash, buf []byte) error {
	fd, err := openNoFollow(p)
	if err != nil {
		return err
	}
	defer fd.Close()
	info, err := fd.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("staged %s changed while it was scanned", f.Path)
	}
	h.Reset()
	// struct{ io.Reader } hides File.WriteTo, which would ignore buf and
	// allocate 32 KiB per file.
	n, err := io.CopyBuffer(h, struct{ io.Reader }{fd}, buf)
	if err != nil {
		return err
	}
	if n != info.Size() {
		return fmt.Errorf("staged %s changed while it was scanned", f.Path)
	}
	f.Mode, f.Size, f.SHA256 = state.Perm(info.Mode()), n, hex.EncodeToString(h.Sum(nil))
	return nil
}

// HashFile returns the hex SHA-256 of the file at p.
func HashFile(p string) (string, error) {
	return hashFile(p, sha256.New(), make([]byte, 64<<10))
}

func hashFile(p string, h interface {
	io.Writer
	Sum([]byte) []byte
	Reset()
}, buf []byte) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h.Reset()
	// struct{ io.Reader } hides File.WriteTo, which would ignore buf and
	// allocate 32 KiB per file.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
