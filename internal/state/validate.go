package state

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/manifest"
)

// ErrCorrupt marks a state file that cannot be read or holds a record that
// breaks the rules below: it was damaged or edited outside dist-client.
var ErrCorrupt = errors.New("installed state is damaged")

// isSHA256 reports whether s is 64 lowercase hex digits. A loop, not a
// regexp: every file of a package is checked on each commit and load
// (10,000 files: 9 ms with the regexp).
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Bounds on what one record may hold. A real package stays far below them;
// they keep a damaged or hostile file from making dist-client allocate
// without end.
const (
	// A recorded path (relative to the prefix) and the prefix are held to
	// the bound of a package's paths (PATH_MAX), the one add and install
	// hold archives to.
	maxPathLen   = archive.MaxPathLen
	maxDeps      = 1024
	maxUntracked = 1000 // paths kept of what a script wrote outside staging
)

// ValidateRecord checks one record with the rules a manifest and the
// catalog follow: a valid name, a strict SemVer version, the archive name
// that goes with them, a hex SHA-256, parseable dependencies, an absolute
// clean prefix and relative clean untracked paths. It is what stops a
// hand-edited version like "1.0.0/../../../victim" from ever reaching a
// path.
func ValidateRecord(r Record) error {
	if err := manifest.ValidateName(r.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if _, err := manifest.ParseVersion(r.Version); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	if want := r.Name + "-" + r.Version + ".tar.zst"; r.Archive != want {
		return fmt.Errorf("archive: %q, want %q", r.Archive, want)
	}
	if !isSHA256(r.SHA256) {
		return fmt.Errorf("sha256: %q is not 64 lowercase hex digits", r.SHA256)
	}
	if r.Size < 0 {
		return fmt.Errorf("size: %d is negative", r.Size)
	}
	if len(r.Depends) > maxDeps || len(r.Conflicts) > maxDeps {
		return fmt.Errorf("depends/conflicts: more than %d entries", maxDeps)
	}
	for _, d := range r.Depends {
		if _, err := manifest.ParseDependency(d); err != nil {
			return fmt.Errorf("depends: %w", err)
		}
	}
	for _, d := range r.Conflicts {
		if _, err := manifest.ParseDependency(d); err != nil {
			return fmt.Errorf("conflicts: %w", err)
		}
	}
	if err := CheckPrefix(r.Prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	if len(r.Untracked) > maxUntracked {
		return fmt.Errorf("untracked: %d paths, at most %d", len(r.Untracked), maxUntracked)
	}
	for _, p := range r.Untracked {
		if err := CheckRelPath(p); err != nil {
			return fmt.Errorf("untracked: %w", err)
		}
	}
	return nil
}

// CheckPrefix accepts an absolute, clean path other than "/" itself.
func CheckPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case len(p) > maxPathLen:
		return fmt.Errorf("%d bytes, at most %d", len(p), maxPathLen)
	case strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p):
		return fmt.Errorf("%q holds a NUL byte or invalid UTF-8", p)
	case !filepath.IsAbs(p) || filepath.Clean(p) != p:
		return fmt.Errorf("%q is not an absolute, clean path", p)
	case p == "/":
		return errors.New(`"/" is not a prefix distpac manages`)
	}
	return nil
}

// CheckRelPath accepts a path relative to a prefix: slash-separated, clean,
// without "." or ".." components, NUL bytes or a leading slash.
func CheckRelPath(p string) error {
	switch {
	case p == "" || p == ".":
		return errors.New("empty path")
	case len(p) > maxPathLen:
		return fmt.Errorf("path of %d bytes, at most %d", len(p), maxPathLen)
	case strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p):
		return fmt.Errorf("path %q holds a NUL byte or invalid UTF-8", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("path %q is not clean (empty, \".\" or \"..\" component)", p)
		}
	}
	return nil
}

// ValidateFile checks one recorded file entry.
func ValidateFile(f File) error {
	if err := CheckRelPath(f.Path); err != nil {
		return err
	}
	if f.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return fmt.Errorf("%s: mode %v has bits other than permissions", f.Path, f.Mode)
	}
	if f.Size < 0 {
		return fmt.Errorf("%s: size %d is negative", f.Path, f.Size)
	}
	switch f.Type {
	case TypeFile:
		if !isSHA256(f.SHA256) {
			return fmt.Errorf("%s: sha256 %q is not 64 lowercase hex digits", f.Path, f.SHA256)
		}
		if f.Target != "" {
			return fmt.Errorf("%s: a regular file has no link target", f.Path)
		}
	case TypeSymlink:
		if f.Target == "" || len(f.Target) > maxPathLen || strings.IndexByte(f.Target, 0) >= 0 {
			return fmt.Errorf("%s: bad symlink target %q", f.Path, f.Target)
		}
		if f.SHA256 != "" || f.Size != 0 {
			return fmt.Errorf("%s: a symlink has no content hash or size", f.Path)
		}
	case TypeDir:
		if f.SHA256 != "" || f.Target != "" || f.Size != 0 {
			return fmt.Errorf("%s: a directory has no content hash, size or target", f.Path)
		}
	default:
		return fmt.Errorf("%s: unknown type %q", f.Path, f.Type)
	}
	return nil
}

// corrupt builds the error for a state file that cannot be trusted.
func corrupt(path, format string, args ...any) error {
	return &CorruptError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// CorruptError is a state file that failed to load or validate. Its text
// names the file and says how to recover.
type CorruptError struct {
	Path string
	Msg  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("installed state %s: %s (the file was damaged or edited outside dist-client: restore it from a backup, "+
		"or move it aside with 'mv %s %s.broken' and reinstall your packages; files in the prefix are not touched)",
		e.Path, e.Msg, e.Path, e.Path)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }
