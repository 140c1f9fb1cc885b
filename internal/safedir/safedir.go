// Package safedir refuses a directory that another user can change, as
// ssh's StrictModes refuses a ~/.ssh others can write: distpac trusts what
// its data directory holds (the pinned key, the catalog, the installed
// state and its journal) and writes, as whoever runs it, where its prefix
// leads. Someone who can replace either can make that user delete, write
// or run what they choose.
package safedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Error names the directory that was checked (Role Dir), the path on the
// way to it that fails (Path) and what to do.
type Error struct {
	Role string // "data directory", "prefix"
	Dir  string
	Path string
	Why  string
	Fix  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s %s; someone else could then change what distpac trusts, installs and runs (fix: %s)",
		e.Role, e.Dir, e.Path, e.Why, e.Fix)
}

// ErrUnsafe is what every *Error matches with errors.Is.
var ErrUnsafe = errors.New("directory others can change")

// Is makes errors.Is(err, ErrUnsafe) hold.
func (e *Error) Is(target error) bool { return target == ErrUnsafe }

// Checker checks directories for one user, the caller; it remembers what
// it passed, so that directories sharing ancestors cost one lstat each.
type Checker struct {
	uid, gid int
	ok       map[string]bool // paths passed as an ancestor
}

// New is a Checker for the effective user and group.
func New() *Checker { return &Checker{uid: os.Geteuid(), gid: os.Getegid(), ok: map[string]bool{}} }

// Check refuses dir when it, or any ancestor up to /, is owned by someone
// other than the caller and root, or is writable by group or others. A
// sticky directory (/tmp) passes as an ancestor, since nobody else can
// rename or remove what the caller makes there, but not as dir itself.
// Symlinks on the way are checked where they are (their owner) and where
// they lead. When dir does not exist, its existing ancestors are checked:
// what the caller creates under them is its own.
//
// It costs an lstat per path component (and a readlink per symlink); a
// Checker skips the ancestors it has passed.
func (c *Checker) Check(role, dir string) error {
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		dir = abs
	}
	dir = filepath.Clean(dir)
	p := dir
	for {
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) || p == "/" {
			break
		}
		p = filepath.Dir(p)
	}
	if err := c.walk(role, dir, p, p == dir); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil || real == p {
		return nil // the lexical walk saw every component: no symlink to follow
	}
	return c.walk(role, dir, real, p == dir)
}

// walk checks every component of p, an existing absolute path; the last
// one is dir itself when last says so.
func (c *Checker) walk(role, dir, p string, last bool) error {
	var comps []string
	for q := p; ; q = filepath.Dir(q) {
		comps = append(comps, q)
		if q == "/" {
			break
		}
	}
	for i := len(comps) - 1; i >= 0; i-- {
		q := comps[i]
		target := i == 0 && last
		if !target && c.ok[q] {
			continue
		}
		fi, err := os.Lstat(q)
		if err != nil {
			return fmt.Errorf("%s %s: %w", role, dir, err)
		}
		if err := c.checkOne(role, dir, q, fi, target); err != nil {
			return err
		}
		if !target {
			c.ok[q] = true
		}
	}
	return nil
}

func (c *Checker) checkOne(role, dir, q string, fi fs.FileInfo, target bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // not a Unix file system: nothing to compare
	}
	uid := int(st.Uid)
	if uid != c.uid && uid != 0 {
		not := "by you (" + name(c.uid) + ", uid " + strconv.Itoa(c.uid) + ") or root"
		if c.uid == 0 {
			not = "by root, who runs this"
		}
		return &Error{Role: role, Dir: dir, Path: q,
			Why: fmt.Sprintf("is owned by %s, not %s", who(uid), not),
			Fix: fmt.Sprintf("'chown %s %s', or use a directory of your own", name(c.uid), q)}
	}
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 || !mode.IsDir() {
		return nil // a symlink's own mode means nothing; its parent was checked
	}
	perm := mode.Perm()
	if perm&0o022 == 0 {
		return nil
	}
	if mode&fs.ModeSticky != 0 {
		if !target {
			return nil // /tmp: others cannot rename or remove the caller's entries
		}
		return &Error{Role: role, Dir: dir, Path: q,
			Why: fmt.Sprintf("is a shared directory (mode %v)", mode),
			Fix: fmt.Sprintf("use a directory of your own, such as 'mkdir -m 700 %s'", filepath.Join(q, "distpac-"+name(c.uid)))}
	}
	if perm&0o002 == 0 && c.privateGroup(int(st.Gid)) {
		return nil
	}
	by := "others"
	if perm&0o002 == 0 {
		by = "its group (" + group(int(st.Gid)) + ")"
	} else if perm&0o020 != 0 {
		by = "its group and others"
	}
	return &Error{Role: role, Dir: dir, Path: q,
		Why: fmt.Sprintf("is writable by %s (mode %v)", by, mode),
		Fix: fmt.Sprintf("'chmod go-w %s'", q)}
}

// privateGroup reports whether gid is the caller's user private group: its
// primary group, named as the user (the convention of useradd with
// USERGROUPS_ENAB, where umask 002 makes directories group-writable).
// Writable by that group is writable by the caller alone. ssh (Debian's
// user-group-modes) also checks that the group has no other member; that
// needs the member list, which os/user does not give: a group named after
// a user is that user's by convention, and adding others to it is the
// administrator sharing that user's files on purpose. Any other group
// fails: "chmod g-w" is an easy fix.
func (c *Checker) privateGroup(gid int) bool {
	if gid != c.gid {
		return false
	}
	u, err := user.LookupId(strconv.Itoa(c.uid))
	if err != nil {
		return false
	}
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	return err == nil && g.Name == u.Username
}

// who is "name (uid N)", or "uid N" when it has no name.
func who(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// name is the user's name for chown, or the uid.
func name(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func group(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil && g.Name != "" {
		return g.Name
	}
	return "gid " + strconv.Itoa(gid)
}
