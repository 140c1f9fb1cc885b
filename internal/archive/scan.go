package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Scan walks root and returns every entry below it sorted by Path (byte
// order), each held to checkEntry's rule: a clean name within the bounds
// (MaxPathLen, MaxNameLen, MaxDepth); only regular files, directories and
// symlinks; a symlink relative and inside root, and one under assets/
// inside assets/ (see linkProblem). Files and directories the current user
// cannot read are refused, so Write cannot fail on them later, and so is a
// tree of more than MaxEntries entries or MaxPathsTotal bytes of paths.
//
// Every system call names an entry relative to its directory's descriptor
// (os.Root), never by root joined with its path: a path within MaxPathLen
// is scanned wherever the package lies. Joined, a path of 4,000 bytes
// failed with the OS's "file name too long" under a directory of 100.
//
// Scan reports every problem it finds, not the first: its error is then a
// *Problems (at most MaxProblems listed, the rest counted), each naming
// its path relative to root, and the entries are those that passed, so
// that a caller checking more of them (pkgdir, the scripts) reports no
// entry twice. A directory that is refused, too deep or unreadable, is not
// descended into.
//
// With tops, only the top-level entries of those names are walked: what
// else a package directory holds (.git, build output) is left out unread,
// so a socket or an unreadable file there cannot fail a publication.
func Scan(root string, tops ...string) ([]Entry, error) {
	// Resolve a root that is a symlink: naming a package through a link
	// is fine.
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("scan: %s: not a directory", root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer r.Close()
	ents, err := readDir(r)
	if err != nil {
		return nil, fmt.Errorf("scan: cannot read: %w", unwrapPath(err))
	}
	s := &scanner{tops: tops}
	s.walk(r, "", ents)
	// The walk sorts per directory, which differs from byte order of
	// whole paths ("a-b" < "a/c" but "a" is visited first); sort once more
	// so the order depends only on the names.
	slices.SortFunc(s.entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return s.entries, s.probs.Err()
}

// scanner is one Scan's walk.
type scanner struct {
	tops    []string
	entries []Entry
	probs   Problems
	count   tally
	stop    bool // a bound of the whole tree is exceeded
}

// walk records ents, the entries of the directory open as dir at rel
// ("" for the root), and what is below them, depth first by name.
func (s *scanner) walk(dir *os.Root, rel string, ents []fs.DirEntry) {
	for _, d := range ents {
		if s.stop {
			return
		}
		name := d.Name()
		if rel == "" && len(s.tops) > 0 && !slices.Contains(s.tops, name) {
			continue
		}
		path := name
		if rel != "" {
			path = rel + "/" + name
		}
		if err := s.count.add(path); err != nil {
			s.probs.Add(err)
			s.stop = true
			return
		}
		// The name first, before any system call on a directory too deep
		// to descend into.
		if _, err := cleanName(path); err != nil {
			s.probs.Add(&entryError{path: showName(path), msg: err.Error(), kind: ErrUnsafe})
			continue
		}
		e, err := scanEntry(dir, path, d)
		if err != nil {
			s.probs.Add(err)
			continue
		}
		s.entries = append(s.entries, e)
		if e.Mode.IsDir() {
			s.descend(dir, path, d.Name())
		}
	}
}

// descend walks the directory name of dir, at path.
func (s *scanner) descend(dir *os.Root, path, name string) {
	sub, err := dir.OpenRoot(name)
	var ents []fs.DirEntry
	if err == nil {
		defer sub.Close()
		ents, err = readDir(sub)
	}
	if err != nil {
		s.probs.Add(fmt.Errorf("%s: cannot read: %w", showName(path), unwrapPath(err)))
		return
	}
	s.walk(sub, path, ents)
}

// readDir lists the directory open as r, sorted by name. Its entries are
// described by fstatat on r's descriptor (os.Root's ReadDir).
func readDir(r *os.Root) ([]fs.DirEntry, error) {
	f, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// scanEntry describes d, the entry of dir at path, and checks it
// (checkEntry).
func scanEntry(dir *os.Root, path string, d fs.DirEntry) (Entry, error) {
	info, err := d.Info()
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", showName(path), unwrapPath(err))
	}
	mode := info.Mode()
	e := Entry{Path: path, Mode: mode.Type()}
	switch {
	case mode.IsDir():
		// Scan reports an unreadable directory when it lists it;
		// nothing more to check here.
		e.Mode |= dirPerm
	case mode.IsRegular():
		f, err := dir.Open(d.Name())
		if err != nil {
			return Entry{}, fmt.Errorf("%s: cannot read: %w", showName(path), unwrapPath(err))
		}
		f.Close()
		e.Mode, e.Size = filePerm(mode.Perm()), info.Size()
	case mode&fs.ModeSymlink != 0:
		if e.Linkname, err = dir.Readlink(d.Name()); err != nil {
			return Entry{}, fmt.Errorf("%s: %w", showName(path), unwrapPath(err))
		}
		e.Mode |= symlinkPerm
	}
	if _, err := checkEntry(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// DescribeMode names a file's type for a message ("a symlink", "a named
// pipe (FIFO)"; fs.FileMode's String gives "L---------"). Scan refuses
// all but the first three, so does the client's staging.
func DescribeMode(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return "a file"
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeSymlink != 0:
		return "a symlink"
	case mode&fs.ModeCharDevice != 0, mode&fs.ModeDevice != 0:
		return "a device file"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	}
	return "an irregular file"
}

// unwrapPath drops the *PathError wrapper, whose absolute path would repeat
// what the relative name in our message already says.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
