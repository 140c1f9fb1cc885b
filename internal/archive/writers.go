package archive

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// smallFile is the largest regular file Extract hands to its writers: the
// reading goroutine holds its content in memory until one writes it.
const smallFile = 64 << 10

// writerQueue bounds the files read ahead of the writers (at most
// writerQueue × smallFile bytes held).
const writerQueue = 64

// inlineSmall is how many small files the extractor writes itself before
// it starts the writers: a package's few small files (its manifest, its
// scripts, a configuration file beside one large payload) gain nothing
// from goroutines of their own, started and handed each file for a few
// system calls.
const inlineSmall = 16

// maxOpenDirs bounds the directories an extraction keeps open for its
// writers once it has left them (x.older); past it, the writers are
// drained and the directories closed. With the chain (MaxDepth+1) it
// bounds the descriptors an extraction holds.
const maxOpenDirs = 256

// writers create small regular files on goroutines of their own while the
// extractor reads on. Extracting a package of 10,000 files of 1 KiB is
// mostly system calls (openat, write, fchmod, close for each); on one
// goroutine they took 80 of 117 ms (tmpfs, two cores). Two goroutines
// writing while the extractor reads the next headers: 76 ms; with plain
// system calls instead of an os.File for each: 62 ms.
//
// Only small files go to the writers, and only after the first
// inlineSmall, which the extractor writes itself with the same writeSmall;
// directories, symlinks and hardlinks are made by the extractor itself, a
// hardlink after the writers are drained (its target must exist). Every
// directory a file is written in was made by this extraction before the
// file is queued, so nothing the writers do can be redirected.
type writers struct {
	jobs chan writeJob
	wg   sync.WaitGroup

	mu  sync.Mutex
	err error // the first write error, with the entry's name
}

type writeJob struct {
	dirfd int    // the file's directory, queued: open until the writers are drained
	base  string // the file's name in it
	name  string // the entry's clean name, for errors
	data  []byte
	perm  fs.FileMode
	// digests, when not nil, gets the file's Digest (ExtractDigests).
	digests *Digests
}

// newWriters starts the writers, one per processor up to four (Extract
// holds every processor, procs.Parallel).
func newWriters() *writers {
	w := &writers{jobs: make(chan writeJob, writerQueue)}
	for range min(runtime.GOMAXPROCS(0), 4) {
		w.wg.Go(w.run)
	}
	return w
}

func (w *writers) run() {
	for j := range w.jobs {
		if w.failed() != nil {
			continue // drain: the extraction fails anyway
		}
		if err := writeSmall(j); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	}
}

// failed returns the first write error so far.
func (w *writers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// drain waits for every queued file and returns the first error; the
// writers are gone after it.
func (w *writers) drain() error {
	close(w.jobs)
	w.wg.Wait()
	return w.failed()
}

// writeSmall creates one file with O_EXCL|O_NOFOLLOW (never reusing or
// following whatever might be at the name) and writes its content, with
// plain system calls on the directory's descriptor: an os.File for each
// (its poller registration, its finalizer) was a fifth of the writers'
// time.
func writeSmall(j writeJob) (err error) {
	fd, err := retryEINTR(func() (int, error) {
		return unix.Openat(j.dirfd, j.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	defer func() {
		if cerr := unix.Close(fd); err == nil && cerr != nil {
			err = fmt.Errorf("%s: %w", j.name, cerr)
		}
	}()
	for data := j.data; len(data) > 0; {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", j.name, err)
		}
		data = data[n:]
	}
	// On the descriptor: the umask does not apply, and no second lookup.
	if _, err := retryEINTR(func() (int, error) { return 0, unix.Fchmod(fd, uint32(j.perm.Perm())) }); err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	if j.digests != nil {
		j.digests.put(j.name, fd, sha256.Sum256(j.data))
	}
	return nil
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}
