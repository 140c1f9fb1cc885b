package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"time"

	"github.com/distpac/distpac/internal/fsutil"
)

// Load reads the records at path (installed.db) without the lock, for the
// read-only commands (View).
func Load(path string) (st *State, err error) {
	ctx := context.Background()
	err = View(ctx, path, func(s *Snapshot) error {
		st, err = s.State(ctx)
		return err
	})
	return st, err
}

// View runs fn on a snapshot of the state at path (installed.db), without
// the lock, for the read-only commands. Before the first transaction after
// an upgrade of dist-client there is no database yet: the snapshot is the
// version 1 installed.json beside it (migrated by the next install, upgrade
// or uninstall), which recorded no files. No state at all is an empty
// state.
//
// A migration in another process renames the database into place and then
// sets installed.json aside, both between this reader's look for the
// database and its read of installed.json; so when installed.json is gone
// the database is looked for again, lest a state with packages read as
// empty.
func View(ctx context.Context, path string, fn func(*Snapshot) error) error {
	for range 2 {
		db, ok, err := OpenRead(ctx, path)
		if err != nil {
			return err
		}
		if ok {
			defer db.Close()
			return db.Read(ctx, fn)
		}
		if afterNoDatabase != nil {
			afterNoDatabase()
		}
		st, found, err := loadLegacy(filepath.Join(filepath.Dir(path), LegacyFile))
		if err != nil {
			return err
		}
		if found {
			return fn(&Snapshot{legacy: st})
		}
	}
	return fn(&Snapshot{legacy: &State{Packages: map[string]Record{}}})
}

// afterNoDatabase, when set (by a test), runs between View's look for the
// database and its read of installed.json.
var afterNoDatabase func()

// loadLegacy reads installed.json; found is false when there is none.
func loadLegacy(path string) (s *State, found bool, err error) {
	s = &State{Packages: map[string]Record{}}
	b, err := fsutil.ReadRegular(path, maxLegacy+1, true) // parseLegacy says "too large"
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read installed state: %w", err)
	}
	recs, err := parseLegacy(path, b)
	if err != nil {
		return nil, false, err
	}
	for _, r := range recs {
		s.Packages[r.Name] = r
	}
	return s, true, nil
}

// State reads every record.
func (db *DB) State(ctx context.Context) (*State, error) {
	return db.state(ctx, db.sql)
}

func (db *DB) state(ctx context.Context, q querier) (*State, error) {
	recs, err := db.records(ctx, q)
	if err != nil {
		return nil, err
	}
	s := &State{Packages: make(map[string]Record, len(recs))}
	for _, r := range recs {
		s.Packages[r.Name] = r
	}
	return s, nil
}

const recordColumns = `name, version, auto, held, depends, conflicts, archive, sha256, size, prefix, files_known, has_uninstall, untracked, installed_at`

// Records reads every record, sorted by name, each validated.
func (db *DB) Records(ctx context.Context) ([]Record, error) {
	return db.records(ctx, db.sql)
}

func (db *DB) records(ctx context.Context, q querier) ([]Record, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+recordColumns+` FROM packages ORDER BY name`)
	if err != nil {
		return nil, db.damaged(err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := db.scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.damaged(err)
	}
	return out, nil
}

func (db *DB) scanRecord(rows *sql.Rows) (Record, error) {
	var r Record
	var auto, held, known, unin, at int64
	var deps, confl, untracked string
	if err := rows.Scan(&r.Name, &r.Version, &auto, &held, &deps, &confl, &r.Archive, &r.SHA256, &r.Size, &r.Prefix, &known, &unin, &untracked, &at); err != nil {
		return r, db.damaged(err)
	}
	r.Auto, r.Held, r.FilesKnown, r.HasUninstall = auto != 0, held != 0, known != 0, unin != 0
	r.InstalledAt = time.Unix(at, 0).UTC()
	for _, l := range []struct {
		field string
		text  string
		dst   *[]string
	}{{"depends", deps, &r.Depends}, {"conflicts", confl, &r.Conflicts}, {"untracked", untracked, &r.Untracked}} {
		if l.text == "[]" {
			continue // most lists of most records: no decoder needed
		}
		if err := json.Unmarshal([]byte(l.text), l.dst); err != nil {
			return r, corrupt(db.path, "package %q: %s: not a JSON list of strings", r.Name, l.field)
		}
		if len(*l.dst) == 0 {
			*l.dst = nil
		}
	}
	if err := ValidateRecord(r); err != nil {
		return r, corrupt(db.path, "package %q: %v", r.Name, err)
	}
	return r, nil
}

// Files reads the files recorded for the package name, sorted by path.
func (db *DB) Files(ctx context.Context, name string) ([]File, error) {
	return db.files(ctx, db.sql, name)
}

func (db *DB) files(ctx context.Context, q querier, name string) ([]File, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+fileColumns+` FROM files f WHERE f.package = ? ORDER BY f.path`, name)
	if err != nil {
		return nil, db.damaged(err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := db.scanFile(rows, &name)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, db.damaged(err)
	}
	return out, nil
}

// scanFile reads and checks a row of fileColumns, after the columns lead
// (scanned first); pkg names the package in errors, and may be one of lead.
func (db *DB) scanFile(rows *sql.Rows, pkg *string, lead ...any) (File, error) {
	var f File
	var typ string
	var mode, created int64
	if err := rows.Scan(append(lead, &f.Path, &typ, &mode, &f.Size, &f.SHA256, &f.Target, &created)...); err != nil {
		return f, db.damaged(err)
	}
	if mode < 0 || mode > 0o7777 {
		return f, corrupt(db.path, "package %q: file %q: mode %o", *pkg, f.Path, mode)
	}
	f.Type, f.Mode, f.Created = FileType(typ), fromUnixMode(uint32(mode)), created != 0
	if err := ValidateFile(f); err != nil {
		return f, corrupt(db.path, "package %q: file %v", *pkg, err)
	}
	return f, nil
}

// fileColumns are the columns of a files row scanFile reads, in order.
const fileColumns = `f.path, f.type, f.mode, f.size, f.sha256, f.target, f.created`

// querier runs read statements: the database itself, or a read
// transaction (Read), which gives several statements one snapshot.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Snapshot reads the records and files of one committed state: its
// statements run in one read transaction, so another process's commit
// between them is seen by all or by none. Separate reads could pair one
// commit's record of a package with another commit's files (a reader takes
// no lock while an install commits).
type Snapshot struct {
	db *DB
	q  querier
	// legacy, when set, is the version 1 state, read before any database
	// existed (View): its records, and no files.
	legacy *State
}

// Read runs fn on a snapshot. The transaction is SQLite's deferred kind
// (the driver does not apply _txlock to read-only ones), so it waits for no
// writer, nor a writer for it.
func (db *DB) Read(ctx context.Context, fn func(*Snapshot) error) error {
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return db.damaged(err)
	}
	defer tx.Rollback()
	return fn(&Snapshot{db: db, q: tx})
}

// State reads every record.
func (s *Snapshot) State(ctx context.Context) (*State, error) {
	if s.legacy != nil {
		return s.legacy, nil
	}
	return s.db.state(ctx, s.q)
}

// Files reads the files recorded for the package name, sorted by path.
func (s *Snapshot) Files(ctx context.Context, name string) ([]File, error) {
	if s.legacy != nil {
		return nil, nil
	}
	return s.db.files(ctx, s.q, name)
}

// Perm keeps what a record holds of a mode: the permission bits, setuid,
// setgid and sticky. A symlink's own mode means nothing on Linux: 0777.
func Perm(m fs.FileMode) fs.FileMode {
	if m&fs.ModeSymlink != 0 {
		return 0o777
	}
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// UnixMode gives the chmod form of Go's permission bits (as stored, and as
// messages show them); fromUnixMode reverses it.
func UnixMode(m fs.FileMode) int64 {
	n := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return n
}

func fromUnixMode(n uint32) fs.FileMode {
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// legacyFile is installed.json version 1.
type legacyFile struct {
	Version  int      `json:"version"`
	Packages []Record `json:"packages"`
}

// maxLegacy bounds the version 1 file read into memory.
const maxLegacy = 64 << 20

// parseLegacy decodes and validates installed.json version 1.
func parseLegacy(path string, b []byte) ([]Record, error) {
	if len(b) > maxLegacy {
		return nil, corrupt(path, "%d bytes, larger than any state dist-client wrote", len(b))
	}
	var f legacyFile
	if err := json.Unmarshal(b, &f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se) && se.Offset >= int64(len(b)):
			return nil, corrupt(path, "truncated: the JSON ends after %d bytes", len(b))
		case errors.As(err, &se):
			return nil, corrupt(path, "not valid JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return nil, corrupt(path, "field %q holds a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind()))
		}
		return nil, corrupt(path, "%v", err)
	}
	if f.Version != 1 {
		return nil, corrupt(path, "version %d, want 1", f.Version)
	}
	seen := map[string]bool{}
	for i, r := range f.Packages {
		// Version 1 had no prefix; ValidateRecord wants one, so check the
		// rest with a stand-in.
		r.Prefix, r.Untracked = "/legacy", nil
		if err := ValidateRecord(r); err != nil {
			return nil, corrupt(path, "package %d (%q): %v", i+1, f.Packages[i].Name, err)
		}
		if seen[r.Name] {
			return nil, corrupt(path, "package %q listed twice", r.Name)
		}
		seen[r.Name] = true
		f.Packages[i].Untracked = nil
	}
	return f.Packages, nil
}

// jsonKind names the JSON a Go kind decodes from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	}
	return "number"
}

// Interruption is what a dist-client killed in the middle of a change
// left (Interrupted).
type Interruption int

const (
	// NotInterrupted: nothing is left (or there is no state).
	NotInterrupted Interruption = iota
	// InterruptedChange: the journal of a transaction that did not end;
	// files may be in the prefix without a record, or records without
	// their files.
	InterruptedChange
	// InterruptedScript: only the note of a package script that had
	// started (install.sh, or an old version's uninstall.sh), killed
	// before any file moved: what it did outside the prefix stays.
	InterruptedScript
)

// Interrupted says what the state at path holds of a change that did not
// end: a dist-client killed in the middle of it, until the next command
// that takes the lock finishes or undoes it; or one running now. With
// InterruptedScript it returns the notes of the scripts left (Scripts),
// read in the same open; none when they do not read.
func Interrupted(ctx context.Context, path string) (Interruption, []Script, error) {
	db, ok, err := OpenRead(ctx, path)
	if err != nil || !ok {
		return NotInterrupted, nil, err
	}
	defer db.Close()
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM txn`).Scan(&n); err != nil {
		return NotInterrupted, nil, db.damaged(err)
	}
	if n > 0 {
		return InterruptedChange, nil, nil
	}
	if db.version >= 4 {
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM scripts`).Scan(&n); err != nil {
			return NotInterrupted, nil, db.damaged(err)
		}
		if n > 0 {
			// Notes that do not read (planted, damaged) still say a
			// script was left: the recovery names what is wrong.
			notes, _ := db.Scripts(ctx)
			return InterruptedScript, notes, nil
		}
	}
	return NotInterrupted, nil, nil
}
