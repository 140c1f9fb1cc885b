package publish

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
)

// The tracker whitelist (server.yaml tracker_whitelist) lets opentracker
// replace the embedded tracker. Debian's opentracker is built whitelist-only
// (WANT_ACCESSLIST_WHITE): it tracks only the infohashes listed, in hex, one
// a line, in the file given with -w, and reads that file again on SIGHUP.
// The catalog's infohashes are what the embedded tracker allows too, so
// both trackers serve the same torrents.

// writeWhitelist rewrites the configured whitelist from the working
// catalog, right after a commit and before the signed catalog that lists
// the new packages is published. A failure is reported with the packages
// recorded: a running server rewrites the file on its next reload.
func (p *Publisher) writeWhitelist(ctx context.Context, db *catalog.DB) error {
	if p.Config == nil || p.Config.TrackerWhitelist == "" {
		return nil
	}
	pkgs, err := db.All(ctx)
	if err != nil {
		return err
	}
	if err := WriteWhitelist(p.Config.TrackerWhitelist, pkgs); err != nil {
		return fmt.Errorf("packages recorded, but %w (a running server writes it again)", err)
	}
	return nil
}

// checkWhitelist refuses, before anything is recorded, a tracker_whitelist
// that cannot be written: its directory missing, not a directory or not
// writable, or the path itself a directory. Add recorded the packages
// first and failed after ("packages recorded, but write tracker whitelist
// ...: no such file or directory"), exiting 1 with the packages published
// all the same (a newcomer's run): add is all or nothing. What shows only
// at write time (a full disk) is still reported after the commit, as it
// happens. The check writes and removes a file of its own in the
// directory, as the whitelist's atomic write will: a permission bit alone
// does not tell a read-only mount or an ACL.
func (p *Publisher) checkWhitelist() error {
	if p.Config == nil || p.Config.TrackerWhitelist == "" {
		return nil
	}
	path := p.Config.TrackerWhitelist
	dir := filepath.Dir(path)
	// Said as LoadServer says a mistake of the file: "FILE:LINE: key
	// "tracker_whitelist": ...", at the key's line.
	mistake := func(err error) error {
		return p.Config.KeyMistake(cmp.Or(p.ConfigPath, "server.yaml"), "tracker_whitelist", err)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return mistake(fmt.Errorf("%s is a directory: name a file in it, such as %s", path, filepath.Join(path, "whitelist")))
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return mistake(fmt.Errorf("the directory of %s does not exist: create it (mkdir -p %s), or name a file in one that does", path, dir))
	case err != nil:
		return mistake(fmt.Errorf("the directory of %s: %w", path, err))
	case !st.IsDir():
		return mistake(fmt.Errorf("%s is not a directory, so %s cannot be written: name a file in a directory", dir, path))
	}
	f, err := os.CreateTemp(dir, ".whitelist.check-*")
	switch {
	case errors.Is(err, fs.ErrPermission):
		return mistake(fmt.Errorf("%s is not writable by this user (uid %d), so %s cannot be written: make it writable, or name a file in a directory that is", dir, os.Getuid(), path))
	case err != nil:
		return mistake(fmt.Errorf("%s cannot be written: %w", path, err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// RewriteWhitelist writes the configured whitelist from the working
// catalog, for a running server (server.yaml's tracker_whitelist may be
// newer than the last publication, or an add died before writing it). It
// does so under the publish lock, and only when the lock is free: an add
// in progress writes the file itself, and a server that read the catalog
// before that add's commit wrote an older list over the add's, so
// opentracker, told by SIGHUP after the add, refused the new package until
// the next publication. It reports whether it wrote.
func (p *Publisher) RewriteWhitelist(ctx context.Context) (bool, error) {
	if p.Config == nil || p.Config.TrackerWhitelist == "" {
		return false, nil
	}
	fl, ok, err := p.tryLock()
	if err != nil || !ok {
		return false, err
	}
	defer fl.Unlock()
	// Only read: the rewrite, which a server runs at every reload, raised
	// the serial of a catalog below the one published before anything
	// checked it (raise).
	db, err := p.openWorking(ctx)
	if err != nil {
		return false, err
	}
	defer db.Close()
	if err := p.writeWhitelist(ctx, db); err != nil {
		return false, err
	}
	return true, nil
}

// Whitelist is the content of a tracker whitelist for pkgs: their
// infohashes in lowercase hex, sorted, one a line.
func Whitelist(pkgs []catalog.Package) []byte {
	hashes := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		hashes = append(hashes, p.InfoHash)
	}
	slices.Sort(hashes)
	var b bytes.Buffer
	for _, h := range slices.Compact(hashes) {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WriteWhitelist replaces the whitelist file at path atomically (a tracker
// reading it sees the old list or the new one), unless it already holds
// exactly that list. The file is world-readable: opentracker reads it as
// the user it drops to.
func WriteWhitelist(path string, pkgs []catalog.Package) error {
	want := Whitelist(pkgs)
	// Read as a regular file of at most the list's size: a FIFO planted
	// there (a whitelist in a shared directory) hung add, start and stop
	// for ever (an attacker's run), and a link to /dev/zero would have been
	// read without end. Anything else is replaced.
	if have, err := fsutil.ReadRegular(path, int64(len(want)), true); err == nil && bytes.Equal(have, want) {
		return nil
	}
	if err := fsutil.WriteFileAtomic(path, want, 0o644); err != nil {
		return fmt.Errorf("write tracker whitelist %s: %w", path, err)
	}
	return nil
}
