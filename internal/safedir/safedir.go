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
	// Risk is what someone else could then do; "" is the risk of a path
	// others can change (riskChange).
	Risk string
}

// riskChange is the risk of a path that others can change.
const riskChange = "someone else could then change what distpac trusts, installs and runs"

func (e *Error) Error() string {
	risk := e.Risk
	if risk == "" {
		risk = riskChange
	}
	return fmt.Sprintf("%s %s: %s %s; %s (fix: %s)", e.Role, e.Dir, e.Path, e.Why, risk, e.Fix)
}

// ErrUnsafe is what every *Error matches with errors.Is.
var ErrUnsafe = errors.New("directory others can change")

// Is makes errors.Is(err, ErrUnsafe) hold.
func (e *Error) Is(target error) bool { return target == ErrUnsafe }

// Checker checks directories for one user, the caller; it remembers what
// it passed, so that directories sharing ancestors cost one lstat each.
type Checker struct {
	uid int
	ok  map[string]bool // paths passed as an ancestor
	// mkdirAll is os.MkdirAll; a test puts another user's mkdir before it.
	mkdirAll func(string, fs.FileMode) error
}

// New is a Checker for the effective user.
func New() *Checker { return &Checker{uid: os.Geteuid(), ok: map[string]bool{}, mkdirAll: os.MkdirAll} }

// MkdirAll makes dir and its missing parents with perm, checked (Check)
// before and again after: before, so that nothing is made in a directory
// others control; after, because before only the existing part of the
// path could be checked, and in a shared sticky directory (/tmp) another
// user can make the rest first, writable by everyone, which MkdirAll then
// takes as made. Directories made later inside dir are the caller's alone.
func (c *Checker) MkdirAll(role, dir string, perm fs.FileMode) error {
	if err := c.Check(role, dir); err != nil {
		return err
	}
	if err := c.mkdirAll(dir, perm); err != nil {
		return fmt.Errorf("%s %s: %w", role, dir, err)
	}
	return c.Check(role, dir)
}

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
func (c *Checker) Check(role, dir string) error { return c.check(role, dir, 0) }

// CheckAll is Check of each of dirs in turn, the first refusal returned.
func (c *Checker) CheckAll(role string, dirs ...string) error {
	for _, d := range dirs {
		if err := c.Check(role, d); err != nil {
			return err
		}
	}
	return nil
}

// maxLinks bounds the symlinks followed by hand (the kernel's MAXSYMLINKS).
const maxLinks = 40

func (c *Checker) check(role, dir string, links int) error {
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
	if err == nil && real == p {
		return nil // the lexical walk saw every component: no symlink to follow
	}
	if err == nil {
		return c.walk(role, dir, real, p == dir)
	}
	// A symlink whose target does not exist yet (a scratch directory
	// purged): what MkdirAll would make is under the target, whose
	// existing ancestors are checked as the path's own (a review: such a
	// path passed unchecked). Anything else that cannot be resolved is
	// refused, not passed.
	fi, lerr := os.Lstat(p)
	if !errors.Is(err, fs.ErrNotExist) || lerr != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s %s: cannot resolve %s: %w", role, dir, p, err)
	}
	if links >= maxLinks {
		return fmt.Errorf("%s %s: more than %d symlinks from %s", role, dir, maxLinks, p)
	}
	target, err := os.Readlink(p)
	if err != nil {
		return fmt.Errorf("%s %s: %w", role, dir, err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(p), target)
	}
	rest, err := filepath.Rel(p, dir)
	if err != nil {
		return fmt.Errorf("%s %s: %w", role, dir, err)
	}
	return c.check(role, filepath.Join(target, rest), links+1)
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
		fix := fmt.Sprintf("'chown %s %s', or use a directory of your own", name(c.uid), q)
		if c.uid == 0 {
			// Root in a user's directory (sudo keeping HOME): never
			// advise giving a user's home to root.
			not = "by root, who runs this"
			fix = fmt.Sprintf("run it as %s, or give root directories of its own (sudo -H, or XDG_DATA_HOME and prefix)", name(uid))
		}
		return &Error{Role: role, Dir: dir, Path: q,
			Why: fmt.Sprintf("is owned by %s, not %s", who(uid), not),
			Fix: fix}
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
	if by := c.writableBy(perm, int(st.Gid)); by != "" {
		return &Error{Role: role, Dir: dir, Path: q,
			Why: fmt.Sprintf("is writable by %s (mode %v)", by, mode),
			Fix: fmt.Sprintf("'chmod go-w %s'", q)}
	}
	return nil
}

// writableBy names who besides the owner can write a file or directory of
// mode perm and group gid ("its group (staff)", "others", "its group and
// others"), or is "" when no one can: group write is the owner's alone
// when the group is the caller's private group.
//
// CheckSecret asks it who can read a file, with the read bits of the
// file's mode moved to where the write bits are.
func (c *Checker) writableBy(perm fs.FileMode, gid int) string {
	switch {
	case perm&0o022 == 0:
		return ""
	case perm&0o002 == 0 && c.privateGroup(gid):
		return ""
	case perm&0o002 == 0:
		return "its group (" + group(gid) + ")"
	case perm&0o020 != 0:
		return "its group and others"
	}
	return "others"
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
	u, err := user.LookupId(strconv.Itoa(c.uid))
	if err != nil || u.Gid != strconv.Itoa(gid) { // the primary group, not the effective one (newgrp)
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

// CheckFile refuses a file that decides what the caller trusts (a
// configuration naming the servers and their key) when another user could
// change it: its directory as Check does, and the file itself (where a
// symlink leads) owned by the caller or root and not writable by group or
// others (but the caller's private group, as for directories). A file that does not exist passes (its directory was checked).
func (c *Checker) CheckFile(role, path string) error {
	_, _, err := c.checkFile(role, path)
	return err
}

// CheckSecret is CheckFile of a file that must stay secret, the server's
// signing key: besides, no one but the caller may read it (but its
// private group, as for writing), as ssh refuses a private key others can
// read. Whoever reads the key signs catalogs that every client trusts,
// and it was used at any mode: a key put back by hand under umask 022
// (0644) was readable by every user of the machine (an attacker's run).
func (c *Checker) CheckSecret(role, path string) error {
	real, fi, err := c.checkFile(role, path)
	if err != nil || fi == nil {
		return err
	}
	if by := c.ReadableBy(fi); by != "" {
		return &Error{Role: role, Dir: path, Path: real, Why: fmt.Sprintf("is readable by %s (mode %v)", by, fi.Mode()),
			Fix:  fmt.Sprintf("'chmod go-rwx %s'; the key may have been copied: 'dist-server key rotate' replaces it", real),
			Risk: "someone else could then sign catalogs that every client trusts"}
	}
	return nil
}

// ReadableBy names who besides the owner can read a file of fi ("its
// group (adm)", "others", "its group and others"), or is "" when no one
// can: group read is the owner's alone when the group is the caller's
// private group, as for writing (writableBy).
func (c *Checker) ReadableBy(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return c.writableBy((fi.Mode().Perm()&0o044)>>1, int(st.Gid))
}

// checkFile is CheckFile; it returns the file's path with the symlinks
// followed and its FileInfo, nil when the file does not exist.
func (c *Checker) checkFile(role, path string) (string, fs.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	if err := c.Check(role, filepath.Dir(abs)); err != nil {
		return "", nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", role, path, err)
	}
	if real != abs {
		if err := c.Check(role, filepath.Dir(real)); err != nil {
			return "", nil, err
		}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", role, path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return real, fi, nil
	}
	if uid := int(st.Uid); uid != c.uid && uid != 0 {
		return "", nil, &Error{Role: role, Dir: path, Path: real, Why: fmt.Sprintf("is owned by %s", who(uid)),
			Fix: fmt.Sprintf("'chown %s %s', or use a file of your own", name(c.uid), real)}
	}
	// A file an editor saved under umask 002 is 0664 in the user's
	// private group, as a directory made then is 0775: writable by the
	// caller alone, and passes as the directory does (it was refused:
	// a hand-edited client.yaml on a system of user private groups).
	if by := c.writableBy(fi.Mode().Perm(), int(st.Gid)); by != "" {
		return "", nil, &Error{Role: role, Dir: path, Path: real, Why: fmt.Sprintf("is writable by %s (mode %v)", by, fi.Mode()),
			Fix: fmt.Sprintf("'chmod go-w %s'", real)}
	}
	return real, fi, nil
}
