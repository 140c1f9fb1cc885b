package place

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/state"
)

// syncFS, syncPath and device are fsutil.SyncFS, fsutil.Sync and
// fsutil.Device; tests watch and fail them.
var (
	syncFS   = fsutil.SyncFS
	syncPath = fsutil.Sync
	device   = fsutil.Device
)

// fewFiles is the most files and directories durable syncs one by one.
// Past it, one syncfs of each filesystem costs less: an fsync is a flush
// of the disk's cache each (0.25 ms on this VM's disk, 5–30 ms on a
// spinning disk or an SD card), and a package of 10,000 small files has
// little to write. Under it, the fsyncs write this change's files alone:
// syncfs also waits for everything else written on the filesystem, the
// archive in the cache among it (a 1 GiB install took 2.4 s longer with
// syncfs, 691 MiB of it the archive's).
const fewFiles = 256

// syncWorkers run the fsyncs side by side: the filesystem's journal
// commits theirs together.
const syncWorkers = 4

// durable makes the steps' moves and what moved in durable: with few
// paths, an fsync of each regular file and directory that moved in (a
// staged directory moves whole, with what it holds) and of each directory
// a step renamed something into or out of; with many, one syncfs of each
// filesystem those are on (the prefixes' too).
func durable(ops []state.Op, prefixes []string) error {
	var paths []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	many := false
	for _, op := range ops {
		if op.Kind == state.OpRmdir {
			continue
		}
		add(filepath.Dir(op.Src))
		add(filepath.Dir(op.Dst))
		if op.Kind != state.OpPlace || many {
			continue // a file set aside is the old one, on the disk long since
		}
		full := func() bool { return len(paths) > fewFiles }
		if err := walkMoved(op.Dst, add, full); err != nil {
			return err
		}
		many = full()
	}
	return syncPaths(paths, many, prefixes)
}

// walkMoved adds root, when a regular file or a directory, and the
// regular files and directories under it, without following a symlink,
// until full. It reads a directory a batch of entries at a time, so that
// one of a million entries costs a batch, not all of them
// (filepath.WalkDir reads and sorts each directory whole: 0.2 s and
// 30 MiB for one of 200,000 before it stopped at the 257th), and opens
// each with O_DIRECTORY|O_NOFOLLOW: a FIFO or a symlink put at its name
// meanwhile is an error, not a wait or another tree.
func walkMoved(root string, add func(string), full func() bool) error {
	fi, err := os.Lstat(root)
	if err != nil || !fi.Mode().IsRegular() && !fi.IsDir() {
		return err
	}
	add(root)
	if !fi.IsDir() || full() {
		return nil
	}
	return walkDir(root, add, full)
}

// walkDirBatch is how many entries walkDir reads at a time.
const walkDirBatch = 64

func walkDir(dir string, add func(string), full func() bool) error {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(walkDirBatch)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			switch {
			case e.Type().IsRegular():
				add(p)
			case e.IsDir():
				add(p)
				if !full() {
					if err := walkDir(p, add, full); err != nil {
						return err
					}
				}
			}
			if full() {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// syncPaths makes paths durable: one by one, or, when many (or past
// fewFiles of them: an uninstall sets aside files in as many directories),
// by a syncfs of each filesystem they and the prefixes are on.
func syncPaths(paths []string, many bool, prefixes []string) error {
	if many || len(paths) > fewFiles {
		return syncFilesystems(append(paths, prefixes...))
	}
	return syncAll(paths)
}

// undone makes what Undo moved back durable: the directories of each
// step whose source holds what it moves (undone by this Undo or by one a
// crash cut short, whose renames may still be only in memory, or never
// done), where they still are (a staged
// directory taken back may have held another step's destination).
// Without it, a loss of power could keep what follows an undo (the
// journal's end, which says nothing is left to undo) and lose the undo,
// leaving the new files in the prefix and the old ones under their backup
// names, recorded as neither.
func undone(ops []state.Op) error {
	var dirs []string
	seen := map[string]bool{}
	for _, op := range ops {
		if op.Kind == state.OpRmdir || inode(op.Src) != op.Ino {
			continue
		}
		for _, d := range []string{filepath.Dir(op.Src), filepath.Dir(op.Dst)} {
			if seen[d] {
				continue
			}
			seen[d] = true
			if _, err := os.Stat(d); err == nil {
				dirs = append(dirs, d)
			}
		}
	}
	return syncPaths(dirs, false, nil)
}

// syncFilesystems syncs, once each, the filesystems that hold the
// directories of paths.
func syncFilesystems(paths []string) error {
	seen := map[uint64]bool{}
	for _, p := range paths {
		// Stat, not Lstat: a directory the steps changed may be the
		// user's symlink to one (lib64 -> lib) on another filesystem,
		// which is the one to sync, not the symlink's.
		dir := p
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			dir = filepath.Dir(p)
		}
		dev, ok := device(dir)
		if ok && seen[dev] {
			continue
		}
		seen[dev] = true
		if err := syncFS(dir); err != nil {
			return err
		}
	}
	return nil
}

// syncAll fsyncs each of paths, syncWorkers at a time, and returns the
// first error.
func syncAll(paths []string) error {
	work := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range min(syncWorkers, len(paths)) {
		wg.Go(func() {
			for p := range work {
				if err := syncPath(p); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}
