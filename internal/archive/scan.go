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
// Scan reports every problem it finds, not the first: its error is then a
// *Problems (at most MaxProblems listed, the rest counted), each naming
// its path relative to root. A directory that is refused, too deep or
// unreadable, is not descended into.
//
// With tops, only the top-level entries of those names are walked: what
// else a package directory holds (.git, build output) is left out unread,
// so a socket or an unreadable file there cannot fail a publication.
func Scan(root string, tops ...string) ([]Entry, error) {
	// WalkDir does not descend into a root that is itself a symlink;
	// resolve it, since naming a package through a link is fine.
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
	var (
		entries []Entry
		probs   Problems
		count   tally
	)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, walkErr error) error {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			if walkErr != nil {
				return fmt.Errorf("cannot read: %w", unwrapPath(walkErr))
			}
			return nil
		}
		if top, _, _ := strings.Cut(rel, "/"); len(tops) > 0 && !slices.Contains(tops, top) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if walkErr != nil {
			// The second call for a directory it could not list: its
			// entry was recorded by the first.
			probs.add(fmt.Errorf("%s: cannot read: %w", showName(rel), unwrapPath(walkErr)))
			return nil
		}
		if err := count.add(rel); err != nil {
			probs.add(err)
			return fs.SkipAll
		}
		// The name first, before any system call on a path that may be
		// too long for one, or a directory too deep to descend into.
		if _, err := cleanName(rel); err != nil {
			probs.add(&entryError{path: showName(rel), msg: err.Error(), kind: ErrUnsafe})
			return skip(d)
		}
		e, err := scanEntry(path, rel, d)
		if err != nil {
			probs.add(err)
			return skip(d)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	if len(probs.Errs) > 0 {
		return nil, &probs
	}
	// WalkDir sorts per directory, which differs from byte order of whole
	// paths ("a-b" < "a/c" but "a" is visited first); sort once more so the
	// order depends only on the names.
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return entries, nil
}

// skip is what a walk does after a problem with d: not descend into it.
func skip(d fs.DirEntry) error {
	if d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// scanEntry describes one walked path and checks it (checkEntry).
func scanEntry(path, rel string, d fs.DirEntry) (Entry, error) {
	info, err := d.Info()
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	mode := info.Mode()
	e := Entry{Path: rel, Mode: mode.Type()}
	switch {
	case mode.IsDir():
		// WalkDir reports an unreadable directory through walkErr when it
		// lists it; nothing more to check here.
		e.Mode |= dirPerm
	case mode.IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: cannot read: %w", rel, unwrapPath(err))
		}
		f.Close()
		e.Mode, e.Size = filePerm(mode.Perm()), info.Size()
	case mode&fs.ModeSymlink != 0:
		if e.Linkname, err = os.Readlink(path); err != nil {
			return Entry{}, fmt.Errorf("%s: %w", rel, unwrapPath(err))
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
