package archive

import (
	"crypto/sha256"
	"sync"

	"golang.org/x/sys/unix"
)

// Digest is what ExtractDigests learnt of a regular file as it wrote it:
// its size and SHA-256, and the file's identity and change time once it
// was written, by which a later reader knows that the file is still the
// one written (nothing wrote, truncated, chmodded or hardlinked it since:
// each of those sets the change time).
type Digest struct {
	Size     int64
	SHA256   [sha256.Size]byte
	Dev, Ino uint64
	Ctime    int64 // ns
}

// Same reports whether st, an fstat of a file now, is the file d was
// taken of, unchanged since.
func (d Digest) Same(st *unix.Stat_t) bool {
	return uint64(st.Dev) == d.Dev && st.Ino == d.Ino && st.Size == d.Size && st.Ctim.Nano() == d.Ctime
}

// Digests are the Digest of each regular file an extraction wrote, by its
// clean entry name (assets/bin/tool); the files of hardlink entries are
// not among them.
type Digests struct {
	mu sync.Mutex
	m  map[string]Digest
}

// Lookup is the Digest of the file extracted at name.
func (d *Digests) Lookup(name string) (Digest, bool) {
	if d == nil {
		return Digest{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.m[name]
	return g, ok
}

// put records the file open at fd, written with sum, as name's; a file
// whose fstat fails is left out (it is hashed again when read).
func (d *Digests) put(name string, fd int, sum [sha256.Size]byte) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[name] = Digest{Size: st.Size, SHA256: sum, Dev: uint64(st.Dev), Ino: st.Ino, Ctime: st.Ctim.Nano()}
}
