// Package archive writes reproducible .tar.zst archives of a package
// directory and extracts them without letting a hostile archive escape its
// destination (DESIGN.md §4).
//
// The same tree always gives byte-identical archives: entries are sorted,
// times, owners and modes are normalised, and the zstd encoder runs with a
// fixed level and no dictionary, its output independent of its goroutine
// count; a tar stream over 8 MiB is cut at fixed offsets into independent
// frames, compressed side by side (frames.go). The extractor accepts only directories,
// regular files, symlinks and hardlinks whose names and targets stay inside
// the destination (a symlink under assets/ inside assets/, the tree that
// becomes the prefix), and bounds both the bytes it writes and the decoder's
// memory.
package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrUnsafe marks an entry refused because it could escape the package
	// or the destination, or has a type that is not allowed.
	ErrUnsafe = errors.New("unsafe archive entry")
	// ErrTooLarge marks content larger than the caller's limit.
	ErrTooLarge = errors.New("archive content too large")
)

// Entry is one member of a package tree, relative to the package root.
type Entry struct {
	Path     string      // slash-separated, relative, e.g. "assets/bin/tool"; directories too
	Mode     fs.FileMode // type bits + normalised permission: dirs 0755, files 0755 or 0644, symlinks 0777
	Size     int64       // regular files only
	Linkname string      // symlinks only, as stored (relative target)
}

// Normalised permissions. Only the owner's exec bit decision survives, so
// the archive does not depend on the publisher's umask.
const (
	dirPerm     fs.FileMode = 0o755
	execPerm    fs.FileMode = 0o755
	plainPerm   fs.FileMode = 0o644
	symlinkPerm fs.FileMode = 0o777
)

// filePerm is the normalised permission of a regular file: executable for
// everyone when any exec bit is set, never setuid, setgid or sticky.
func filePerm(perm fs.FileMode) fs.FileMode {
	if perm&0o111 != 0 {
		return execPerm
	}
	return plainPerm
}

// entryError is a refusal that names the offending path. kind is the
// sentinel it matches (ErrUnsafe, ErrTooLarge) or nil.
type entryError struct {
	path string
	msg  string
	kind error
}

func (e *entryError) Error() string { return e.path + ": " + e.msg }
func (e *entryError) Unwrap() error { return e.kind }

// cleanName checks a slash-separated member name and returns it without
// "." components, repeated or trailing slashes. The package root is ".".
// It holds the names of add (Scan, Write) and of install (Extract) to the
// same rules and bounds (MaxPathLen, MaxNameLen, MaxDepth).
// Absolute names and ".." components are refused outright rather than
// cleaned, because a name that needs them is never produced by Write.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return "", errors.New("name contains a NUL byte")
	case strings.IndexFunc(name, isControl) >= 0:
		return "", controlError(name)
	case strings.HasPrefix(name, "/"):
		return "", errors.New("absolute path")
	case len(name) > MaxPathLen:
		// Before splitting: a tar name may be a PAX record of 1 MiB.
		return "", fmt.Errorf("path longer than %d bytes", MaxPathLen)
	}
	parts := make([]string, 0, strings.Count(name, "/")+1)
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", errors.New(`path has a ".." component`)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ".", nil
	}
	if msg := checkBounds(parts); msg != "" {
		return "", errors.New(msg)
	}
	return strings.Join(parts, "/"), nil
}

// checkEntry is the one rule of what a package tree may hold, for Scan
// (each file it finds) and Write (each entry it is given: the last line of
// defence): a clean relative name within the bounds; a directory, a
// regular file or a symlink; a symlink that stays inside its tree
// (linkProblem). It returns the clean name; its errors name the entry and
// match ErrUnsafe.
func checkEntry(e Entry) (string, error) {
	name, err := cleanName(e.Path)
	if err != nil {
		return "", &entryError{path: showName(e.Path), msg: err.Error(), kind: ErrUnsafe}
	}
	if name != e.Path || name == "." {
		return "", &entryError{path: showName(e.Path), msg: "not a clean relative path", kind: ErrUnsafe}
	}
	switch {
	case e.Mode.IsDir(), e.Mode.IsRegular():
	case e.Mode&fs.ModeSymlink != 0:
		if msg := linkProblem(name, e.Linkname, "the package"); msg != "" {
			return "", &entryError{path: name, msg: msg, kind: ErrUnsafe}
		}
	default:
		return "", &entryError{path: name, msg: "is " + DescribeMode(e.Mode) + " (only regular files, directories and symlinks are allowed)", kind: ErrUnsafe}
	}
	return name, nil
}

// isControl reports a rune a member name must not hold: a newline or an
// escape (C0, DEL or C1, such as U+009B, a CSI) in a file name reaches the
// terminal of every user who lists the package's files, and so could bytes
// that are not UTF-8 (decoded as RuneError).
func isControl(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }

// controlError says which control character (or bad UTF-8) name holds.
func controlError(name string) error {
	for _, r := range name {
		switch {
		case r == utf8.RuneError:
			return errors.New("name is not valid UTF-8")
		case unicode.IsControl(r):
			return fmt.Errorf("name contains the control character %q", r)
		}
	}
	return nil
}

// linkProblem says why a symlink at the clean member name with the given
// target could point outside the tree ("" when it cannot); where names the
// tree ("the package", "the destination"). It is the one rule of both
// add (Scan, Write) and install (Extract).
//
// A symlink under assets/ must stay inside assets/: that tree becomes
// the prefix (a package without install.sh is installed as it is, and
// install.sh copies it), so a link that left it pointed outside the
// prefix once installed ("assets/home -> .." was the prefix's parent,
// $HOME with the default prefix) or dangled ("assets/m ->
// ../manifest.yaml"). Elsewhere (scripts/) a symlink must stay inside
// the package.
//
// A lexical check alone is not enough: with "d -> .." and "e -> d/..", e
// cleans to "." yet the kernel resolves it through d to the tree's parent.
// So ".." is only allowed as leading components, and no more of them than
// the link's own depth in its tree. Then resolution climbs only through
// real parent directories of the link and afterwards only descends;
// descending through another symlink lands inside its tree by the same
// rule, so no chain of accepted links can leave the package, nor assets/
// from inside it.
func linkProblem(name, target, where string) string {
	switch {
	case target == "":
		return "symlink has an empty target"
	case strings.IndexByte(target, 0) >= 0:
		return "symlink target contains a NUL byte"
	case len(target) > MaxPathLen:
		return fmt.Sprintf("symlink target longer than %d bytes", MaxPathLen)
	case strings.HasPrefix(target, "/"):
		return "symlink to " + strconv.Quote(target) + " is absolute, so it escapes " + where
	}
	depth := strings.Count(name, "/") // name is clean: components of its parent
	inAssets := strings.HasPrefix(name, assetsDir+"/")
	if inAssets {
		depth-- // counted from assets/, not from the package's root
	}
	ups, named := 0, false
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
		case "..":
			if named {
				return "symlink to " + strconv.Quote(target) + ` has ".." after a name (only leading ".." components are allowed)`
			}
			ups++
			if ups > depth && inAssets {
				return "symlink to " + strconv.Quote(target) + " leads out of " + assetsDir + "/, which is installed as the prefix: it would point outside the prefix (a link in " + assetsDir + "/ must stay inside " + assetsDir + "/)"
			}
			if ups > depth {
				return "symlink to " + strconv.Quote(target) + " escapes " + where
			}
		default:
			named = true
		}
	}
	return ""
}

// assetsDir is the package's tree that is installed as the prefix.
const assetsDir = "assets"
