package catalog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"syscall"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/sqlerr"
)

// The seal records that a working catalog, as its file stood, passed
// Check (the clients' check), with the trackers and web seeds of its rows.
// Add, RemoveAll and BumpSerial keep it: each holds what it writes to
// Check's rules (Add validates every row and bounds the trackers and web
// seeds, RemoveAll and
// BumpSerial only take rows away or stamp the meta row), so a catalog
// changed only through them still passes. Anything else that writes the
// file (sqlite3 by hand, a restored copy) leaves the seal behind, and the
// next publication checks the whole catalog again (SnapshotChecked).
//
// Why: a full Check of 10,000 rows took 0.85 s here (0.4 s on the
// machine of the first figures), most of it reading and decoding the
// torrents, and `dist-server add` of one package publishes; so did Add's
// bound on the catalog's trackers (heldURLs, 0.38 s). With the seal,
// both read one small file and 100 bytes of the catalog's header.
//
// The file is told apart by SQLite's file change counter (header offset
// 24), which every committed write transaction of a rollback-journal
// database increments once, with its device and inode, size and
// modification and change times for a file replaced by another: a copy
// moved into place (a backup restored, an edited copy) is another inode,
// whatever its counter and times say (cp -p and rsync keep the times, and
// an edited copy's counter can be set back), so it is checked in full
// before it is signed. A copy written over the file in place (cp -a
// backup/. home/) keeps the inode, and puts back the counter, the size
// and the mtime of the backup, whose seal comes back with it; so does a
// copy into a fresh directory whose file gets the inode number just
// freed, as ext4 gives it out again (two restores of five by rm -rf and
// cp -a here). Only the ctime, which no program sets, tells either from
// the file sealed: without it a start took the backup's pair for its own
// and served its old serial (see Sealed). A writer that keeps the seal
// reads the counter inside its write transaction (no one else commits
// meanwhile) and again after its commit: only when it grew by exactly one
// is no other commit mixed in, and the seal moves on; otherwise it stays
// behind, which costs a full check and is never wrong.
type seal struct {
	Version int       `json:"version"`
	Stamp   fileStamp `json:"stamp"`
	// catalogURLs counts the rows' tracker and web seed URLs (of each
	// row, summed); Add bounds the catalog with them (MaxCatalogTrackers,
	// MaxCatalogWebSeeds).
	catalogURLs
	// Refused is Check's error when the catalog as stamped failed it, so
	// that a server retrying its publication does not check it again
	// until the file changes.
	Refused string `json:"refused,omitempty"`
}

// sealVersion changes whenever Check changes what it refuses: a seal of an
// older version says nothing about the new rules (nor does a refusal it
// kept). 2: the stamp names the file's device and inode. 3: the
// catalog's web seeds are bounded and counted. 4: the stamp holds the
// ctime.
const sealVersion = 4

// fileStamp tells one state of the catalog file from another.
type fileStamp struct {
	Counter uint32 `json:"counter"` // SQLite's file change counter
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime"` // nanoseconds
	// ChangeTime is the ctime, in nanoseconds (0 where the platform's
	// stat gives none).
	ChangeTime int64 `json:"ctime"`
}

// sealPath is where the working catalog's seal is kept, beside it.
func (db *DB) sealPath() string { return db.path + ".checked" }

// readStamp reads the catalog file's stamp. ok is false when the file
// cannot be told apart by it: in WAL mode (header bytes 18 and 19 are 2)
// commits need not increment the change counter; and when the path names
// another file than the one db's connection opened (a copy moved into
// place since): the stamp would be the new file's, the rows read and
// checked the old one's.
func (db *DB) readStamp() (st fileStamp, ok bool, err error) {
	f, err := os.Open(db.path)
	if err != nil {
		return fileStamp{}, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileStamp{}, false, err
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(f, head); err != nil {
		return fileStamp{}, false, nil // an empty or short file has no stamp
	}
	st = fileStamp{Counter: binary.BigEndian.Uint32(head[24:28]), Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if ct, ok := fsutil.Ctime(fi); ok {
		st.ChangeTime = ct.UnixNano()
	}
	if sys, isUnix := fi.Sys().(*syscall.Stat_t); isUnix {
		st.Dev, st.Ino = uint64(sys.Dev), sys.Ino // Dev is an int32 on macOS
	}
	same := db.opened != nil && os.SameFile(db.opened, fi)
	return st, same && head[18] == 1 && head[19] == 1, nil
}

// Stamp is an opaque value that changes whenever the catalog file is
// written; a server compares two to learn whether to try again a
// publication it refused.
type Stamp struct{ st fileStamp }

// Stamp returns the catalog file's current Stamp.
func (db *DB) Stamp() (Stamp, error) {
	st, _, err := db.readStamp()
	return Stamp{st}, err
}

// Sealed reports whether the catalog file, as it stands, is the one its
// seal says passed the clients' check: written only through Add,
// RemoveAll and BumpSerial since it was last checked, as every
// publication leaves it. A file moved into place (another inode), one
// written by anything else (sqlite3 by hand, a cp over it, its times put
// back or not), one refused, and one never checked or checked under older
// rules (sealVersion) are not: a server starting on such a file cannot
// take the pair published at its serial for its own, since that pair was
// made of another file. A file brought back with its inode and every
// time (a file-system snapshot rolled back) is the file sealed, as far as
// anything on the host can tell: dist-server republish re-signs it.
func (db *DB) Sealed() bool {
	st, ok, err := db.readStamp()
	if err != nil || !ok {
		return false
	}
	s := db.readSeal(st)
	return s != nil && s.Refused == ""
}

// readSeal returns the seal when it holds for the file as stamped by st,
// nil otherwise (none, another state, another version, unreadable).
func (db *DB) readSeal(st fileStamp) *seal {
	data, err := os.ReadFile(db.sealPath())
	if err != nil {
		return nil
	}
	var s seal
	if json.Unmarshal(data, &s) != nil || s.Version != sealVersion || s.Stamp != st {
		return nil
	}
	return &s
}

// writeSeal records s for the file as it is now, if that is want: a
// writer that sealed its own commit passes the stamp it expects. Best
// effort: a seal not written costs a full check, never a wrong one.
func (db *DB) writeSeal(s seal, want func(fileStamp) bool) {
	st, ok, err := db.readStamp()
	if err != nil || !ok || !want(st) {
		os.Remove(db.sealPath())
		return
	}
	s.Version, s.Stamp = sealVersion, st
	data, err := json.Marshal(s)
	if err != nil {
		return
	}
	if fsutil.WriteFileAtomic(db.sealPath(), data, 0o644) != nil {
		os.Remove(db.sealPath())
	}
}

// sealedTx is the seal a write transaction started under: read after
// BEGIN IMMEDIATE, when no other connection can commit until this one
// ends. urls is nil when the catalog was not sealed.
type sealedTx struct {
	before fileStamp
	urls   *catalogURLs
}

// beginSealed reads the stamp and the seal inside a write transaction.
func (db *DB) beginSealed() sealedTx {
	st, ok, err := db.readStamp()
	if err != nil || !ok {
		return sealedTx{}
	}
	s := db.readSeal(st)
	if s == nil || s.Refused != "" {
		return sealedTx{before: st}
	}
	urls := newCatalogURLs()
	maps.Copy(urls.Trackers, s.Trackers)
	maps.Copy(urls.WebSeeds, s.WebSeeds)
	return sealedTx{before: st, urls: urls}
}

// commit moves the seal on to the file as this transaction committed it,
// with urls, when the catalog was sealed before and no other commit
// came between.
func (tx sealedTx) commit(db *DB, urls *catalogURLs) {
	if tx.urls == nil || urls == nil {
		return
	}
	db.writeSeal(seal{catalogURLs: *urls}, func(st fileStamp) bool { return st.Counter == tx.before.Counter+1 })
}

// ErrUnpublishable: the working catalog fails Check, so every client
// would refuse a snapshot of it; the server does not sign it.
var ErrUnpublishable = errors.New("every client would refuse this catalog at sync, so it is not signed")

// CheckPublishable checks that a snapshot of the working catalog passes
// Check as clients run it: at once when the catalog is sealed, by a
// snapshot to a temporary file otherwise.
func (db *DB) CheckPublishable(ctx context.Context) error {
	if err := db.writable("check"); err != nil {
		return err
	}
	st, ok, err := db.readStamp()
	if err != nil {
		return fmt.Errorf("check catalog: %w", err)
	}
	if ok {
		if s := db.readSeal(st); s != nil {
			return s.refusal(db)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(db.path), "."+filepath.Base(db.path)+".check-*")
	if err != nil {
		return fmt.Errorf("check catalog: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	return db.SnapshotChecked(ctx, tmp.Name())
}

// refusal is the seal's verdict as an error.
func (s *seal) refusal(db *DB) error {
	if s.Refused == "" {
		return nil
	}
	return fmt.Errorf("%s: %w: %s", db.path, ErrUnpublishable, s.Refused)
}

// SnapshotChecked writes a snapshot of the working catalog to path
// (Snapshot) and makes sure clients will accept it: unless the catalog is
// sealed, it opens the snapshot as a client does (OpenReadOnly) and runs
// Check on it. A snapshot that fails is removed, and the error, wrapping
// ErrUnpublishable and Check's error, names the row and the field in the
// words clients would print.
func (db *DB) SnapshotChecked(ctx context.Context, path string) error {
	if err := db.writable("snapshot"); err != nil {
		return err
	}
	before, ok, err := db.readStamp()
	if err != nil {
		return fmt.Errorf("snapshot catalog: %w", err)
	}
	var s *seal
	if ok {
		s = db.readSeal(before)
	}
	if s != nil && s.Refused != "" {
		return s.refusal(db)
	}
	if err := db.Snapshot(ctx, path); err != nil {
		return err
	}
	// VACUUM INTO read one state of the file; the same stamp before and
	// after says it is the stamped one.
	same := func(st fileStamp) bool { return ok && st == before }
	if after, _, err := db.readStamp(); err == nil && same(after) && s != nil {
		return nil
	}
	urls, err := checkSnapshot(ctx, path)
	if err != nil {
		os.Remove(path)
		// Only what the catalog holds is a refusal, kept until the file
		// changes: a failure to read the snapshot (a full disk, too many
		// open files) is tried again next time, and says what it is.
		if ctx.Err() != nil || sqlerr.Environmental(err) {
			return fmt.Errorf("check catalog %s: %w", db.path, err)
		}
		db.writeSeal(seal{Refused: err.Error()}, same)
		return fmt.Errorf("%s: %w: %w", db.path, ErrUnpublishable, err)
	}
	db.writeSeal(seal{catalogURLs: *urls}, same)
	return nil
}

// checkSnapshot runs the clients' check on the snapshot at path, and
// refuses the web seeds past MaxCatalogWebSeeds that a client would leave
// out: the publisher does not sign a catalog Add would not have made
// (see MaxCatalogWebSeeds).
func checkSnapshot(ctx context.Context, path string) (*catalogURLs, error) {
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	defer ro.Close()
	c, err := ro.check(ctx)
	if err != nil {
		return nil, err
	}
	if c.overWebSeeds != nil {
		return nil, c.overWebSeeds
	}
	return c.urls, nil
}
