package state

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/sqlerr"
)

// LegacyFile is the version 1 state, migrated into the database on first use.
const LegacyFile = "installed.json"

// DB is the open state database.
type DB struct {
	sql     *sql.DB
	path    string
	now     func() time.Time
	version int64 // the file's schema version: SchemaVersion, or 2 or 3 until Open migrates it
}

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

func dsn(path string, params ...string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	return u.String() + "?" + strings.Join(params, "&"), nil
}

// Open opens the state database at path, for a process that holds the lock.
// When the file does not exist it is created, and installed.json version 1
// beside it (if any) is migrated: its packages keep their records, with
// legacyPrefix as their prefix and no file list (their scripts installed
// them; distpac never knew their files). The migrated file is kept as
// installed.json.v1-migrated.
func Open(ctx context.Context, path, legacyPrefix string) (*DB, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if err := create(ctx, path, legacyPrefix); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("open installed state: %w", err)
	}
	db, err := openFile(ctx, path, false)
	if err != nil {
		return nil, err
	}
	// A migration that stopped after the new database was in place but
	// before the old file was set aside: the database is the truth.
	legacy := filepath.Join(filepath.Dir(path), LegacyFile)
	if _, err := os.Lstat(legacy); err == nil {
		os.Rename(legacy, legacy+".v1-migrated")
	}
	if err := db.quickCheck(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// After the check: a damaged version 2 file is refused as damaged,
	// with the way out, not as a failed write.
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenRead opens an existing state database for reading, without the lock.
// ok is false when there is no database yet. A version 2 database is read
// as it is (the next Open migrates it).
//
// On a full disk it falls back to a connection that needs no -shm file
// (openAlone), so that the user can still see what is installed while
// freeing space.
func OpenRead(ctx context.Context, path string) (db *DB, ok bool, err error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	db, err = openFile(ctx, path, false)
	if err != nil && sqlerr.CannotWrite(err) {
		if alone, aerr := openFile(ctx, path, true); aerr == nil {
			return alone, true, nil
		}
		// What stopped the shared open is the error to show: the
		// exclusive one fails for the same reason, or waited for a
		// writer (a busy database is no full disk).
	}
	if err != nil {
		return nil, false, err
	}
	return db, true, nil
}

// openFile opens the state database at path. alone opens it in SQLite's
// exclusive locking mode, the read-only commands' way past a full disk
// (an attacker's run filled it: list, info and files failed with "disk I/O
// error (4874)", and the user could not see what was installed while
// freeing space). A WAL database's first reader makes the -shm file, the
// index of the WAL that connections share, and grows it by writing a byte
// into each of its pages; a full disk refuses that write. With
// locking_mode EXCLUSIVE set before the first read, SQLite never touches
// the -shm file: it takes an EXCLUSIVE lock on the database file, then
// builds the index of the WAL in its own memory by reading the WAL
// (https://sqlite.org/wal.html#noshm; pager.c, pagerOpenWal). So it
// cannot miss committed data: what a committed transaction left in the WAL
// is read as a shared reader would read it, and while the lock is held no
// other connection is open (each holds a SHARED lock on the file for its
// life), so none commits or checkpoints under the read. SQLite's other
// read-only opens are not as safe: immutable=1 ignores the WAL altogether
// (its committed transactions go unseen until a checkpoint) and takes no
// lock (a checkpoint by another process can rewrite the pages being read),
// so it would be right only with no WAL or an empty one, checked apart
// from the open; mode=ro still needs the -shm file when there is one to
// make. The price is that the reader excludes everyone else while it is
// open: a command that starts meanwhile waits (busy_timeout), and the
// read waits for any open connection. So it is the fallback only, after
// the shared open failed for want of room.
func openFile(ctx context.Context, path string, alone bool) (*DB, error) {
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	params := []string{
		"_busy_timeout=10000",
		"_journal_mode=WAL",
		"_synchronous=FULL",
		"_txlock=immediate",
		"_pragma=trusted_schema(0)",
		"_pragma=cell_size_check(1)",
		"_pragma=journal_size_limit(4194304)",
	}
	if alone {
		// The driver runs the _pragma list (sorted) before journal_mode,
		// and none of the others reads the database: the mode is set
		// before the first access, as it must be.
		params = append(params, "_pragma=locking_mode(EXCLUSIVE)")
	}
	d, err := dsn(path, params...)
	if err != nil {
		return nil, fmt.Errorf("open installed state %s: %w", path, err)
	}
	sdb, err := sql.Open("sqlite", d)
	if err != nil {
		return nil, fmt.Errorf("open installed state %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	db := &DB{sql: sdb, path: path, now: time.Now}
	if err := db.verifySchema(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// checkHeader refuses a file that is not a SQLite database before SQLite
// sees it, so the message says what the file is.
func checkHeader(path string) error {
	f, err := fsutil.OpenRegular(path, true) // a FIFO would block the open
	if errors.Is(err, fsutil.ErrNotRegular) {
		return corrupt(path, "not a regular file")
	}
	if err != nil {
		return fmt.Errorf("open installed state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open installed state: %w", err)
	}
	if afterHeaderOpen != nil {
		afterHeaderOpen()
	}
	head := make([]byte, 100)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("open installed state %s: %w", path, err)
	}
	switch {
	case n == 0:
		return corrupt(path, "empty file")
	case !bytes.HasPrefix(head[:n], sqliteMagic[:min(n, len(sqliteMagic))]):
		return corrupt(path, "not a SQLite database")
	case n < len(head):
		return corrupt(path, "truncated: %d bytes, shorter than a SQLite header", n)
	}
	// Without a WAL beside it, the file alone holds every page the header
	// counts (SQLite file format §1.3.7: the count is valid when
	// version-valid-for equals the change counter). Another process's
	// checkpoint can change the file under this check: its last
	// connection checkpoints the WAL into the file, growing it (an
	// install) or shrinking it (Reclaim's VACUUM), then removes the WAL.
	// So the size is taken after the header is read and the WAL looked
	// for (a size taken before a growth falls short of a header read
	// after it), and a count larger than the file is believed only when a
	// second read of the header, after the size, finds it unchanged (a
	// header read before a shrink counts pages the file no longer has).
	for range 3 {
		if afterHeaderRead != nil {
			afterHeaderRead()
		}
		if _, err := os.Lstat(path + "-wal"); err == nil {
			return nil
		}
		if fi, err = f.Stat(); err != nil {
			return fmt.Errorf("open installed state: %w", err)
		}
		pageSize := int64(binary.BigEndian.Uint16(head[16:18]))
		if pageSize == 1 {
			pageSize = 65536
		}
		pages := int64(binary.BigEndian.Uint32(head[28:32]))
		if binary.BigEndian.Uint32(head[24:28]) != binary.BigEndian.Uint32(head[92:96]) || pages*pageSize <= fi.Size() {
			return nil
		}
		again := make([]byte, len(head))
		if n, err := f.ReadAt(again, 0); n < len(again) {
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("open installed state %s: %w", path, err)
			}
			return corrupt(path, "truncated: %d bytes, shorter than a SQLite header", n)
		}
		if bytes.Equal(again, head) {
			return corrupt(path, "truncated: the header counts %d pages of %d bytes, the file has %d bytes", pages, pageSize, fi.Size())
		}
		head = again
	}
	// Changed at every look: a writer is at work, not a truncation;
	// SQLite checks the pages it reads.
	return nil
}

// afterHeaderOpen, when set (by a test), runs between checkHeader's open
// of the file and its read of the header.
var afterHeaderOpen func()

// afterHeaderRead, when set (by a test), runs between checkHeader's read of
// the header and its look for the WAL (at each try).
var afterHeaderRead func()

// damaged turns a SQLite error while reading into a CorruptError, except
// for cancellation and the environment's errors (a full disk, an I/O
// error: sqlerr), which are not damage and must not lead a user to move
// the file aside.
func (db *DB) damaged(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if sqlerr.Environmental(err) {
		return fmt.Errorf("installed state %s: %w (a condition of the disk or the system, such as a full disk, not damage to the file: free space or fix it, and run the command again)", db.path, err)
	}
	return corrupt(db.path, "%v", err)
}

// saveErr names the file on a failed write (a full disk shows as "database
// or disk is full").
func (db *DB) saveErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("save installed state %s: %w", db.path, err)
}

// Close releases the database.
func (db *DB) Close() error { return db.sql.Close() }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// create builds a new database next to path and renames it into place, so
// a crash never leaves a half-made one; it migrates installed.json.
func create(ctx context.Context, path, legacyPrefix string) error {
	legacy := filepath.Join(filepath.Dir(path), LegacyFile)
	var old []Record
	if b, err := fsutil.ReadRegular(legacy, maxLegacy+1, true); err == nil { // parseLegacy says "too large"
		old, err = parseLegacy(legacy, b)
		if err != nil {
			return err
		}
		if len(old) > 0 {
			if err := CheckPrefix(legacyPrefix); err != nil {
				return fmt.Errorf("migrate %s: prefix: %w", legacy, err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open installed state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create installed state: %w", err)
	}
	tmp := path + ".new"
	os.Remove(tmp)
	os.Remove(tmp + "-journal")
	d, err := dsn(tmp, "_journal_mode=DELETE", "_synchronous=FULL")
	if err != nil {
		return err
	}
	sdb, err := sql.Open("sqlite", d)
	if err != nil {
		return fmt.Errorf("create installed state %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	err = func() error {
		tx, err := sdb.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, s := range schema {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (id, schema_version) VALUES (1, ?)`, SchemaVersion); err != nil {
			return err
		}
		for _, r := range old {
			r.Prefix, r.FilesKnown = legacyPrefix, false
			if err := putRecord(ctx, tx, r); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if cerr := sdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("create installed state %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("create installed state %s: %w", path, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("create installed state %s: %w", path, err)
	}
	if old != nil {
		os.Rename(legacy, legacy+".v1-migrated")
	}
	return nil
}

// putRecord inserts or replaces one package row.
func putRecord(ctx context.Context, tx *sql.Tx, r Record) error {
	deps, _ := json.Marshal(nonNil(r.Depends))
	confl, _ := json.Marshal(nonNil(r.Conflicts))
	untracked, _ := json.Marshal(nonNil(r.Untracked))
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO packages
		(name, version, auto, held, depends, conflicts, archive, sha256, size, prefix, files_known, has_uninstall, untracked, installed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Version, b2i(r.Auto), b2i(r.Held), string(deps), string(confl), r.Archive, r.SHA256, r.Size, r.Prefix,
		b2i(r.FilesKnown), b2i(r.HasUninstall), string(untracked), r.InstalledAt.Unix())
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
