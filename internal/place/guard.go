package place

// Paths whose directory another user could swap. Every step acts on a
// path by name (rename(2), rmdir(2)), and a name is resolved again at
// each call: when a directory of a package is another user's (a service's
// state directory that install.sh chowned to it, a sticky directory where
// anyone makes entries), that user can put a symlink where one of its
// subdirectories was, and root's uninstall renamed and deleted what the
// symlink led to (in an attacker's run, a root-owned passwd in a
// directory standing for /etc became passwd.distpac-save), and root's
// install placed files there. A step is taken on a path only when the
// directory holding it stays where it is for good: every directory above
// that one, and the directories a symlink in its place leads through, are
// the caller's or root's and nobody else can write them (safedir). The
// directory itself may be another user's: they cannot move it, and the
// final name of a path is never followed (renames act on the link; Check
// opens with O_NOFOLLOW).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/distpac/distpac/internal/safedir"
)

// guard answers, for the directories of a transaction's paths, whether
// another user could swap them; it remembers each directory's answer.
type guard struct {
	chk  *safedir.Checker
	seen map[string]error // by the directory holding a path
}

func newGuard() *guard { return &guard{chk: safedir.New(), seen: map[string]error{}} }

// unsafe returns why abs cannot be acted on as named (nil when it can):
// the directory holding it could be swapped by another user.
func (g *guard) unsafe(abs string) error {
	dir := filepath.Dir(abs)
	if err, ok := g.seen[dir]; ok {
		return err
	}
	err := g.check(dir)
	g.seen[dir] = err
	return err
}

func (g *guard) check(dir string) error {
	// Who may rename the directory's own entry, and those above it.
	err := g.stays(dir)
	if err == nil {
		// A symlink in the directory's place is followed at every step:
		// where it leads must hold as well.
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			if real, rerr := filepath.EvalSymlinks(dir); rerr == nil {
				err = g.stays(real)
			}
		}
	}
	if err == nil {
		return nil
	}
	var se *safedir.Error
	if errors.As(err, &se) {
		// What to do: a package should ship nothing under a directory
		// it gives another user (a service's state); the user looks at
		// what is there and moves it by hand (the review: the refusal
		// said no way forward).
		return fmt.Errorf("its directory %s is under %s, which %s: someone else could put a symlink on the way and lead it elsewhere (check what is there and move or remove it by hand, then run this again; a package should ship nothing under a directory it gives another user)", dir, se.Path, se.Why)
	}
	return fmt.Errorf("its directory %s: %w", dir, err)
}

// stays checks that nobody else can rename dir's own entry: its parent
// and those above are the caller's or root's and nobody else can write
// them (safedir), or its parent is a sticky directory (/tmp) of the
// caller's or root's, where nobody else can rename an entry they do not
// own, and dir is the caller's or root's (a symlink there: its own owner). A prefix right in
// /tmp (root's /tmp/pfx) had every file at its top refused: safedir
// refuses a sticky directory as the one checked, for what is made in it.
func (g *guard) stays(dir string) error {
	parent := filepath.Dir(dir)
	err := g.chk.Check("directory", parent)
	if err == nil || parent == dir {
		return err
	}
	pi, perr := os.Lstat(parent)
	di, derr := os.Lstat(dir)
	if perr != nil || derr != nil || !pi.IsDir() || pi.Mode()&os.ModeSticky == 0 || !ours(pi) || !ours(di) {
		return err // a sticky directory's owner can rename any entry in it
	}
	return g.chk.Check("directory", filepath.Dir(parent))
}

// ours reports whether fi is the caller's or root's.
func ours(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (int(st.Uid) == os.Geteuid() || st.Uid == 0)
}
