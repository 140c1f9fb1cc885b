package archive

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The extractor makes everything relative to the directory it works in,
// which it keeps open with every directory above it: the chain root →
// ... → current. An entry in another directory reopens only the levels
// below the two directories' common ancestor, so its cost is its distance
// from the last entry's directory, not its depth. Walking down from the
// root at each change (os.Root's OpenRoot, an openat a level, and two
// walks more to make a directory) made 20,000 small files switching among
// 50 sibling directories at the depth bound take 12-13 s of CPU (tmpfs,
// two cores; 2 s at depth 12), a million (MaxEntries) about ten minutes;
// with the chain 0.9-1.1 s (0.5 s at depth 12), the time of the names'
// parsing and the files' writing (BenchmarkExtractTree). Directories
// parted near the root are far apart: the levels below their common
// ancestor are opened in one openat2 where there is one (openBelow), or
// cost their depth at each switch (20,000 files among 50 chains parted
// below assets/: 13-15 s against 17 s before).
//
// Each level is opened from the one above by a single name component
// (cleanName refuses "", "." and ".."; openDir checks again) with
// O_NOFOLLOW|O_DIRECTORY, or several at once by openat2 with
// RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH: nothing the chain opens is or goes
// through a symlink, and no name can lead above the destination. A level is a directory this
// extraction made: parents refuses a path through an extracted symlink or
// file, and creates every missing ancestor first. A level reopened by
// name is whatever directory is at that name now (as os.Root's walk
// was); one replaced by a symlink is refused (ELOOP), where os.Root
// followed a symlink that stayed inside the root. A directory moved away
// by another process while open stays the one written in, as the current
// directory's os.Root did: only its ancestors are now held open too.

// dirHandle is one open directory of the chain.
type dirHandle struct {
	fd int
	// queued: a file in it was handed to the writers since they last
	// drained, so the descriptor stays open until they drain again.
	queued bool
}

// chain is the directories open from the destination down to the one the
// extractor works in: dirs[0] is the destination, dirs[i] the directory
// path[:ends[i-1]]. It holds at most MaxDepth+1 descriptors (a directory
// entry at the depth bound is the deepest level).
type chain struct {
	path string
	ends []int
	dirs []dirHandle
}

// dirOpened, when a test sets it, is called at every directory the
// extractor opens.
var dirOpened func()

func newChain(topfd int) chain {
	c := chain{ends: make([]int, 0, MaxDepth), dirs: make([]dirHandle, 1, MaxDepth+1)}
	c.dirs[0].fd = topfd
	return c
}

// tip is the directory the extractor works in. The pointer stays valid
// until the chain moves: dirs never grows past its capacity.
func (c *chain) tip() *dirHandle { return &c.dirs[len(c.dirs)-1] }

// push adds the directory path[:end], open at fd, below the tip; path
// shares the chain's path up to the tip.
func (c *chain) push(path string, end, fd int) {
	c.path = path[:end]
	c.ends = append(c.ends, end)
	c.dirs = append(c.dirs, dirHandle{fd: fd})
}

// shared is how many levels below the destination the chain and the
// directory dir have in common.
func (c *chain) shared(dir string) int {
	same := 0
	for same < len(dir) && same < len(c.path) && dir[same] == c.path[same] {
		same++
	}
	n := 0
	for i, end := range c.ends {
		// dir[:end] equals the level's path; it must also end there.
		if end > same || end < len(dir) && dir[end] != '/' {
			break
		}
		n = i + 1
	}
	return n
}

// cd moves the chain to the directory dir ("" for the destination),
// which this extraction made, and returns it. The tip is always open;
// levels above it may not be (openBelow).
func (x *extractor) cd(dir string) (*dirHandle, error) {
	c := &x.chain
	if dir == c.path {
		return c.tip(), nil
	}
	keep := c.shared(dir)
	if err := x.up(keep); err != nil {
		return nil, err
	}
	if err := c.openTip(); err != nil {
		return nil, fmt.Errorf("open directory %s: %w", strconv.Quote(shortName(c.path)), err)
	}
	start := 0 // of the first name below the tip
	if keep > 0 {
		start = c.ends[keep-1] + 1
	}
	if start < len(dir) && strings.IndexByte(dir[start:], '/') >= 0 {
		rest := dir[start:]
		fd, err := openBelow(c.tip().fd, rest)
		if err == nil {
			for i := start; i < len(dir); i++ {
				if dir[i] == '/' {
					c.push(dir, i, -1)
				}
			}
			c.push(dir, len(dir), fd)
			return c.tip(), nil
		}
		if !errors.Is(err, errNoOpenat2) {
			return nil, fmt.Errorf("open directory %s: %w", strconv.Quote(shortName(dir)), err)
		}
	}
	for start < len(dir) {
		end := strings.IndexByte(dir[start:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += start
		}
		fd, err := openDir(c.tip().fd, dir[start:end])
		if err != nil {
			return nil, fmt.Errorf("open directory %s: %w", strconv.Quote(shortName(dir[:end])), err)
		}
		c.push(dir, end, fd)
		start = end + 1
	}
	return c.tip(), nil
}

// openTip opens the tip if the chain reached it in one openat2 from
// above, from its nearest open ancestor (the destination's is).
func (c *chain) openTip() error {
	if c.tip().fd >= 0 {
		return nil
	}
	j := len(c.dirs) - 2
	for c.dirs[j].fd < 0 {
		j--
	}
	from := 0
	if j > 0 {
		from = c.ends[j-1] + 1
	}
	fd, err := openBelow(c.dirs[j].fd, c.path[from:])
	if err != nil {
		return err
	}
	c.tip().fd = fd
	return nil
}

// up closes the chain's levels below its first keep: at once, or after
// the writers drain for one they may still write in. Those wait in
// x.older, at most maxOpenDirs of them.
func (x *extractor) up(keep int) error {
	c := &x.chain
	for len(c.ends) > keep {
		last := len(c.dirs) - 1
		d := c.dirs[last]
		c.dirs, c.ends = c.dirs[:last], c.ends[:last-1]
		if d.fd < 0 {
			continue
		}
		if !d.queued {
			unix.Close(d.fd)
			continue
		}
		x.older = append(x.older, d.fd)
		if len(x.older) >= maxOpenDirs {
			if err := x.flush(); err != nil {
				return err
			}
		}
	}
	c.path = c.path[:c.end()]
	return nil
}

// end is the length of the tip's path.
func (c *chain) end() int {
	if len(c.ends) == 0 {
		return 0
	}
	return c.ends[len(c.ends)-1]
}

// closeAll closes every level below the destination (whose descriptor
// the extractor's top file owns); the writers are drained.
func (c *chain) closeAll() {
	for _, d := range c.dirs[1:] {
		if d.fd >= 0 {
			unix.Close(d.fd)
		}
	}
	c.dirs, c.ends, c.path = c.dirs[:1], c.ends[:0], ""
}

// openDir opens the directory name in parent: one name, never a symlink,
// only a directory.
func openDir(parent int, name string) (int, error) {
	if name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 {
		return -1, fmt.Errorf("%s is not the name of one directory", strconv.Quote(name))
	}
	if dirOpened != nil {
		dirOpened()
	}
	return retryEINTR(func() (int, error) {
		return unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
}

// errNoOpenat2: the system has no openat2 (before Linux 5.6, not Linux,
// or refused by a seccomp filter); the chain opens a level at a time.
var errNoOpenat2 = errors.New("no openat2")

// noOpenat2 is set once openat2 is found missing, or by a test.
var noOpenat2 atomic.Bool

// openBelow opens the directory rel, names below parent, in one openat2
// that follows no symlink and stays beneath parent (Linux 5.6): the
// kernel walks the names, where an openat a level costs a system call
// each. 126 levels: 16 µs against 570 µs, so directories parted near the
// root cost one call a switch, not their depth.
func openBelow(parent int, rel string) (int, error) {
	if noOpenat2.Load() {
		return -1, errNoOpenat2
	}
	for name := range strings.SplitSeq(rel, "/") {
		if name == "" || name == "." || name == ".." {
			return -1, fmt.Errorf("%s is not the name of a directory", strconv.Quote(rel))
		}
	}
	if dirOpened != nil {
		dirOpened()
	}
	fd, err := retryEINTR(func() (int, error) { return openat2Dir(parent, rel) })
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		noOpenat2.Store(true)
		return -1, errNoOpenat2
	}
	return fd, err
}

// mkdir creates the directory name with mode 0755 whatever the umask and
// moves the chain into it: the next entries are most likely in it, and
// the chmod is on its descriptor, with no walk from the root.
func (x *extractor) mkdir(name string) error {
	parent, base := splitName(name)
	d, err := x.cd(parent)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := retryEINTR(func() (int, error) { return 0, unix.Mkdirat(d.fd, base, uint32(dirPerm)) }); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fd, err := openDir(d.fd, base)
	if errors.Is(err, unix.EACCES) {
		// A umask without the owner's read bit: set the mode by name
		// (os.Root: no symlink followed out of the destination) first.
		if err = x.root.Chmod(name, dirPerm); err == nil {
			fd, err = openDir(d.fd, base)
		}
	}
	if err == nil {
		if _, err = retryEINTR(func() (int, error) { return 0, unix.Fchmod(fd, uint32(dirPerm)) }); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	x.chain.push(name, len(name), fd)
	return nil
}

// splitName splits a clean name into its directory ("" at the top) and
// its last element.
func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}
