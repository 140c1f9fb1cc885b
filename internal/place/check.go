package place

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/state"
)

// Problem is how a recorded path differs from the disk.
type Problem struct {
	Path string `json:"path"` // absolute
	What string `json:"problem"`
	// NotChecked: the path was not read, its directory being one another
	// user could swap (What says which and what to do); install
	// --reinstall refuses to place it as well, so it is no mend for it.
	NotChecked bool `json:"not_checked"`
}

// Check compares the path at abs with what was recorded of it; "" when it
// is as recorded. It reads a file's content only when its size and mode
// match, so a check of an unchanged package costs one read of its files.
// When ctx is done while a file is read, what it says is ctx's error:
// callers look at ctx before they act on it.
func Check(ctx context.Context, abs string, f state.File) string {
	fi, err := os.Lstat(abs)
	if os.IsNotExist(err) {
		return "missing"
	}
	if err != nil {
		return err.Error()
	}
	got := typeOf(fi.Mode())
	if got == state.TypeSymlink && f.Type == state.TypeDir {
		// A directory the package shares with the user's layout, reached
		// through the user's symlink.
		if target, err := os.Stat(abs); err == nil && target.IsDir() {
			fi, got = target, state.TypeDir
		}
	}
	if got != f.Type {
		return fmt.Sprintf("is a %s now, recorded a %s", got, f.Type)
	}
	switch f.Type {
	case state.TypeSymlink:
		target, err := os.Readlink(abs)
		if err != nil {
			return err.Error()
		}
		if target != f.Target {
			return fmt.Sprintf("points to %q, recorded %q", target, f.Target)
		}
		return ""
	case state.TypeFile:
		if fi.Size() != f.Size {
			return fmt.Sprintf("content changed (%d bytes, recorded %d)", fi.Size(), f.Size)
		}
	}
	if m := state.Perm(fi.Mode()); m != f.Mode {
		return fmt.Sprintf("mode changed (%04o, recorded %04o)", state.UnixMode(m), state.UnixMode(f.Mode))
	}
	if f.Type == state.TypeFile {
		sum, err := stage.HashFile(ctx, abs)
		if err != nil {
			return err.Error()
		}
		if sum != f.SHA256 {
			return "content changed (SHA-256 differs)"
		}
	}
	return ""
}

// Verify checks every recorded path of a package under prefix. It ends
// with ctx's error when ctx is done (Ctrl-C during a long verify).
//
// A path whose directory another user could swap is not read (the guard,
// as for uninstall): through a symlink put in a subdirectory's place,
// root's verify stat'ed and hashed what it led to, and said the size of a
// root-only file to whoever reads its output (an attacker's run: "content
// changed (27 bytes, recorded 7)" of a root-only file).
func Verify(ctx context.Context, prefix string, files []state.File) ([]Problem, error) {
	var out []Problem
	g := newGuard()
	for _, f := range files {
		abs := filepath.Join(prefix, filepath.FromSlash(f.Path))
		if err := g.unsafe(abs); err != nil {
			out = append(out, Problem{Path: abs, What: "not checked: " + err.Error(), NotChecked: true})
			continue
		}
		what := Check(ctx, abs, f)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if what != "" {
			out = append(out, Problem{Path: abs, What: what})
		}
	}
	return out, nil
}

func typeOf(m fs.FileMode) state.FileType {
	switch {
	case m.IsDir():
		return state.TypeDir
	case m.IsRegular():
		return state.TypeFile
	case m&fs.ModeSymlink != 0:
		return state.TypeSymlink
	}
	return "special file"
}
