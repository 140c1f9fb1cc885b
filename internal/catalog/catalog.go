// Package catalog is the SQLite package catalog, packages.db (DESIGN.md §5).
//
// The publisher keeps one writable working catalog (Open) and, for every
// publication, writes a self-contained snapshot of it (Snapshot) that is signed
// and served. Clients open a downloaded snapshot read-only (OpenReadOnly) and,
// because it comes from the network, can verify it row by row (Check).
//
// The file holds two tables: packages, one row per package version keyed by
// (name, version), and meta, a single row with the schema version, a serial
// that grows with every publication, the time that serial was made and the
// time until which it is valid (valid_until, as apt's Valid-Until: a client
// refuses a catalog past it, so an old signed catalog cannot be replayed
// forever).
package catalog

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/sqlerr"
)

// SchemaVersion is the catalog schema this code writes and understands.
const SchemaVersion = 2

// DefaultValidFor is how long a publication is valid unless ValidFor says
// otherwise (DESIGN.md §2: catalog_valid_for, default 7 days, as Debian's
// security archive).
const DefaultValidFor = 7 * 24 * time.Hour

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no package with that name (and version).
	ErrNotFound = errors.New("package not found")
	// ErrConflict: the same name and version already exists with different content.
	ErrConflict = errors.New("package version already published with different content")
	// ErrNameCase: the name differs only in letter case from a name already in the catalog.
	ErrNameCase = errors.New("package name differs only in case from an existing name")
	// ErrSchema: the file is a catalog of a schema version this code does not understand.
	ErrSchema = errors.New("unsupported catalog schema")
	// ErrNotCatalog: the file is not a SQLite database or not a distpac catalog.
	ErrNotCatalog = errors.New("not a catalog")
	// ErrInvalid: a package row is not self-consistent (see Check).
	ErrInvalid = errors.New("invalid catalog row")
)

// Package is one package version as recorded in the catalog.
type Package struct {
	Name          string
	Version       string // strict SemVer text, e.g. "1.2.3"
	Archive       string // file name "NAME-VERSION.tar.zst"
	Size          int64  // archive bytes
	InstalledSize int64  // sum of regular file sizes inside the archive
	SHA256        string // lowercase hex of the archive
	InfoHash      string // lowercase hex, 40 chars (BitTorrent v1)
	Magnet        string
	Torrent       []byte // bencoded metainfo
	Description   string
	License       string
	Homepage      string
	Depends       []string // dependency strings as written in the manifest, e.g. "libbar ^1.4"
	Conflicts     []string
	Published     time.Time // UTC, second precision
}

// ID returns "name@version", the way errors and logs name a package version.
func (p Package) ID() string { return p.Name + "@" + p.Version }

// Meta is the catalog's single meta row.
type Meta struct {
	SchemaVersion int
	Serial        int64     // grows with every publication, and is at least TimeSerial(Created)
	Created       time.Time // when Serial was made, UTC, second precision
	ValidUntil    time.Time // when this publication expires, UTC, second precision
}

// Expired reports whether the publication is past its validity at now.
func (m Meta) Expired(now time.Time) bool { return now.After(m.ValidUntil) }

// DB is an open catalog. It is safe for concurrent use by several goroutines.
type DB struct {
	sql      *sql.DB
	path     string
	readOnly bool
	now      func() time.Time
	validFor time.Duration // stamped into valid_until with every serial
	// opened is the file the connection opened (os.SameFile), nil when
	// unknown: a path that names another file since (an edited copy moved
	// into place) is not the file the seal would speak for (readStamp).
	opened os.FileInfo
	// dropSeeds are web seeds reads leave out of the torrents
	// (DropWebSeeds); set before any read, then only read.
	dropSeeds map[string]bool
}

// Option changes how Open treats a writable catalog.
type Option func(*DB)

// ValidFor sets how long each publication is valid: every serial bump
// stamps valid_until = created + d. Durations under a second count as one
// second (the stamps have second precision). The default is DefaultValidFor.
func ValidFor(d time.Duration) Option {
	return func(db *DB) { db.validFor = max(d, time.Second) }
}

// stamp gives the created and valid_until values for a serial made now,
// and the lowest serial it may have (TimeSerial).
func (db *DB) stamp() (created, validUntil, least int64) {
	t := db.now()
	now := t.Unix()
	return now, now + int64(db.validFor/time.Second), TimeSerial(t)
}

// TimeSerial is the lowest serial a publication made at t gets: t in UTC
// written as the decimal number YYYYMMDDhhmmss (20261207205800 for
// 2026-12-07 20:58:00), as DNS zone serials are dates. A publication takes
// the serial after the one before it, or this one when it is higher, so
// a serial never goes back, and a publisher restored from a backup of an
// older catalog publishes past every serial published since the backup
// without knowing them: those were made earlier, so they are lower, as
// long as its clock is not behind the one they were made by (and a burst
// of more publications than seconds, each taking the serial after the one
// before, is not still ahead of the clock). The number grows with time,
// so it is ordered as the times are; bursts make numbers (…0060) that
// name no time and are only serials.
func TimeSerial(t time.Time) int64 {
	t = t.UTC()
	if t.Year() < 1 {
		return 0
	}
	return int64(t.Year())*1e10 + int64(t.Month())*1e8 + int64(t.Day())*1e6 +
		int64(t.Hour())*1e4 + int64(t.Minute())*100 + int64(t.Second())
}

// MaxTimeSerial is TimeSerial of the last second of year 9999, the
// highest serial a time gives: one above it was never a publication's
// time, and after it TimeSerial would no longer grow.
const MaxTimeSerial int64 = 99991231235959

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// fileURI turns a path into a SQLite URI so that SQLite's own URI parameters
// (mode, immutable) apply; url.URL escapes '?', '#' and '%' in the path.
func fileURI(path string, params []string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	s := u.String()
	for i, p := range params {
		if i == 0 {
			s += "?" + p
		} else {
			s += "&" + p
		}
	}
	return s, nil
}

// checkHeader refuses a non-empty file that is not a SQLite database before
// SQLite sees it, so the error says plainly what the file is not.
func checkHeader(path string, allowEmpty bool) error {
	f, err := fsutil.OpenRegular(path, true) // a FIFO would block a plain open
	if errors.Is(err, fsutil.ErrNotRegular) {
		return fmt.Errorf("%w: %s: not a regular file", ErrNotCatalog, path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 && allowEmpty {
		return nil
	}
	head := make([]byte, 100) // the SQLite database header
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s: empty file", ErrNotCatalog, path)
	}
	if !bytes.HasPrefix(head[:n], sqliteMagic[:min(n, len(sqliteMagic))]) {
		return fmt.Errorf("%w: %s: not a SQLite database (starts with %q)", ErrNotCatalog, path, Printable(head[:min(n, 16)]))
	}
	if n < len(head) {
		return fmt.Errorf("%w: %s: file too short for a SQLite database (%d bytes)", ErrNotCatalog, path, n)
	}
	if !allowEmpty {
		return checkSize(path, head, fi.Size())
	}
	return nil
}

// checkSize compares a snapshot's size with the size its header records, so
// that a truncated download is named as such rather than found later as a
// "malformed" page. A working catalog is not checked: after a crash its size
// may be off until SQLite rolls back the hot journal.
func checkSize(path string, head []byte, size int64) error {
	pageSize := int64(binary.BigEndian.Uint16(head[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("%w: %s: bad page size %d in header", ErrNotCatalog, path, pageSize)
	}
	pages := int64(binary.BigEndian.Uint32(head[28:32]))
	// The page count is only valid when "version-valid-for" matches the
	// change counter (SQLite file format §1.3.7); VACUUM INTO sets both.
	changeCounter := binary.BigEndian.Uint32(head[24:28])
	validFor := binary.BigEndian.Uint32(head[92:96])
	if pages == 0 || changeCounter != validFor {
		return nil
	}
	if want := pages * pageSize; want != size {
		return fmt.Errorf("%w: %s: truncated or padded: header says %d pages of %d bytes (%d bytes), file has %d bytes",
			ErrNotCatalog, path, pages, pageSize, want, size)
	}
	return nil
}

// Printable keeps the start of a bad file or body readable in an error
// message: every byte outside printable ASCII becomes '.', so no terminal
// escape gets through.
func Printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}

// Open opens (creating when absent) the writable catalog at path, creating the
// schema when the file is new. The journal is a rollback journal, not WAL, so
// the file alone is the whole database. Several processes may open the same
// catalog: every write runs in a BEGIN IMMEDIATE transaction and waits up to
// 10s for another writer.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	before, err := os.Stat(path)
	if err == nil {
		if err := checkHeader(path, true); err != nil {
			return nil, fmt.Errorf("open catalog: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	dsn, err := fileURI(path, []string{
		"_busy_timeout=10000",
		"_foreign_keys=1",
		"_journal_mode=DELETE",
		"_synchronous=FULL",
		// IMMEDIATE takes the write lock at BEGIN, so two processes that read
		// then write never deadlock upgrading their locks.
		"_txlock=immediate",
	})
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	// One connection per process: writers queue in Go rather than
	// contending for SQLite's file lock with themselves.
	sdb.SetMaxOpenConns(1)
	db := &DB{sql: sdb, path: path, now: time.Now, validFor: DefaultValidFor}
	for _, o := range opts {
		o(db)
	}
	if err := db.initSchema(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	// initSchema opened the connection's file: the one path named before
	// and after, when it is the same (else the seal is never used).
	if after, err := os.Stat(path); err == nil && (before == nil || os.SameFile(before, after)) {
		db.opened = after
	}
	return db, nil
}

// OpenReadOnly opens an existing catalog file read-only, as a client does with
// a downloaded snapshot. It checks that the file is a SQLite database whose
// schema is exactly the one this code writes and whose schema version it
// understands. It does not check rows; call Check for that.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if err := checkHeader(path, false); err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	dsn, err := fileURI(path, []string{
		// immutable: a snapshot never changes in place (it is replaced by
		// rename), so SQLite needs no locks and no journal.
		"mode=ro",
		"immutable=1",
		// The file comes from the network: follow SQLite's advice for
		// untrusted databases (https://www.sqlite.org/security.html).
		"_defensive=1",
		"_query_only=1",
		"_pragma=trusted_schema(0)",
		"_pragma=cell_size_check(1)",
		"_pragma=mmap_size(0)",
	})
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	db := &DB{sql: sdb, path: path, readOnly: true, now: time.Now, validFor: DefaultValidFor}
	if err := db.verifySchema(ctx, db.sql); err != nil {
		sdb.Close()
		if errors.Is(err, ErrSchema) || errors.Is(err, ErrNotCatalog) || ctx.Err() != nil {
			return nil, fmt.Errorf("open catalog: %w", err)
		}
		return nil, fmt.Errorf("open catalog: %w: %s: %w", ErrNotCatalog, path, err)
	}
	return db, nil
}

// Replaced reports whether fi, what db's path names now (os.Stat),
// is another file than the one its connection opened (a copy moved into
// place since: a backup restored with cp and mv). A connection goes on
// reading and writing the file it opened, whatever the path names since;
// a long-lived reader (the running server) opens the path again when
// this says so. Nothing (nil), or an empty file (which Open would make a
// new catalog of), is not a replacement. The caller stats the path: a
// server polling it twice a second looks at it once a poll, for this and
// for whether it is gone.
func (db *DB) Replaced(fi os.FileInfo) bool {
	if fi == nil || fi.Size() == 0 {
		return false
	}
	return db.opened == nil || !os.SameFile(db.opened, fi)
}

// Close releases the database.
func (db *DB) Close() error { return db.sql.Close() }

// Path returns the file the catalog was opened from.
func (db *DB) Path() string { return db.path }

// opErr is err of the catalog operation op, naming the file when the
// environment caused it ("add: /srv/…/catalog.db: database or disk is
// full"): an operator could not tell which disk filled (an attacker's
// run).
func (db *DB) opErr(op string, err error) error {
	if sqlerr.Environmental(err) {
		return fmt.Errorf("%s: %s: %w", op, db.path, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (db *DB) writable(op string) error {
	if db.readOnly {
		return fmt.Errorf("%s: catalog %s is open read-only", op, db.path)
	}
	return nil
}
