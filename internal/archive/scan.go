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
// order), validating as it goes: only regular files, directories and
// symlinks are allowed; a symlink must be relative and stay inside root,
// and one under assets/ inside assets/ (see linkProblem); device files, FIFOs and sockets are refused; files and
// directories the current user cannot read are refused, so Write cannot fail
// on them later. Errors name the offending path relative to root.
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
	var entries []Entry
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, walkErr error) error {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if walkErr != nil {
			return fmt.Errorf("%s: cannot read: %w", rel, unwrapPath(walkErr))
		}
		if rel == "." {
			return nil
		}
		if top, _, _ := strings.Cut(rel, "/"); len(tops) > 0 && !slices.Contains(tops, top) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		e, err := scanEntry(path, rel, d)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	// WalkDir sorts per directory, which differs from byte order of whole
	// paths ("a-b" < "a/c" but "a" is visited first); sort once more so the
	// order depends only on the names.
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return entries, nil
}

// scanEntry checks one walked path and describes it.
func scanEntry(path, rel string, d fs.DirEntry) (Entry, error) {
	info, err := d.Info()
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		// WalkDir reports an unreadable directory through walkErr when it
		// lists it; nothing more to check here.
		return Entry{Path: rel, Mode: fs.ModeDir | dirPerm}, nil
	case mode.IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: cannot read: %w", rel, unwrapPath(err))
		}
		f.Close()
		return Entry{Path: rel, Mode: filePerm(mode.Perm()), Size: info.Size()}, nil
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: %w", rel, unwrapPath(err))
		}
		if msg := linkProblem(rel, target, "the package"); msg != "" {
			return Entry{}, &entryError{path: rel, msg: msg, kind: ErrUnsafe}
		}
		return Entry{Path: rel, Mode: fs.ModeSymlink | symlinkPerm, Linkname: target}, nil
	}
	return Entry{}, &entryError{path: rel, msg: "is " + DescribeMode(mode) + " (only regular files, directories and symlinks are allowed)", kind: ErrUnsafe}
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
