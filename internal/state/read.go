package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/distpac/distpac/internal/manifest"
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
	b, err := os.ReadFile(path)
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

// Owner is the package that recorded a path.
type Owner struct {
	Name, Version string
	Type          FileType
	// Created is set for a directory when any package recorded that
	// distpac made it.
	Created bool
}

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

// Owners maps the absolute path of every file, symlink and directory
// recorded by a package other than those in skip to its owner, from one
// snapshot. A directory recorded by several packages maps to one of them.
func (db *DB) Owners(ctx context.Context, skip map[string]bool) (out map[string]Owner, err error) {
	err = db.Read(ctx, func(s *Snapshot) error {
		out, err = s.owners(ctx, skip)
		return err
	})
	return out, err
}

func (s *Snapshot) owners(ctx context.Context, skip map[string]bool) (map[string]Owner, error) {
	if s.legacy != nil {
		return map[string]Owner{}, nil // a state from installed.json records no files (Files)
	}
	// One query for every package's files: a query per package made each
	// step of an uninstall of 1,500 packages read for 107 ms.
	rows, err := s.q.QueryContext(ctx, `SELECT p.name, p.version, p.prefix, `+fileColumns+`
		FROM files f JOIN packages p ON p.name = f.package ORDER BY p.name, f.path`)
	if err != nil {
		return nil, s.db.damaged(err)
	}
	defer rows.Close()
	out := map[string]Owner{}
	for rows.Next() {
		var name, version, prefix string
		f, err := s.db.scanFile(rows, &name, &name, &version, &prefix)
		if err != nil {
			return nil, err
		}
		if skip[name] {
			continue
		}
		AddOwner(out, Owner{Name: name, Version: version}, prefix, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.damaged(err)
	}
	return out, nil
}

// OwnersOf maps those of the absolute paths abs that a package other than
// those in skip records to its owner, as Owners would, from one snapshot.
// It reads only the rows of those paths (the index files_path): what an
// install checks costs what it installs, not what is installed.
func (db *DB) OwnersOf(ctx context.Context, skip map[string]bool, abs []string) (out map[string]Owner, err error) {
	err = db.Read(ctx, func(s *Snapshot) error {
		out, err = s.ownersOf(ctx, skip, abs)
		return err
	})
	return out, err
}

func (s *Snapshot) ownersOf(ctx context.Context, skip map[string]bool, abs []string) (map[string]Owner, error) {
	out := map[string]Owner{}
	if s.legacy != nil || len(abs) == 0 {
		return out, nil
	}
	prefixes, err := s.prefixes(ctx)
	if err != nil {
		return nil, err
	}
	skipped := make([]string, 0, len(skip))
	for name := range skip {
		skipped = append(skipped, name)
	}
	skipJSON, _ := json.Marshal(skipped)
	for _, prefix := range prefixes {
		// The paths under this prefix, relative as recorded. A path that
		// is not UTF-8 is never recorded (CheckRelPath), and JSON would
		// make it another.
		var rels []string
		for _, a := range abs {
			if !utf8.ValidString(a) {
				continue
			}
			rel, err := filepath.Rel(prefix, a)
			if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
		if len(rels) == 0 {
			continue
		}
		relJSON, _ := json.Marshal(rels)
		part := map[string]Owner{}
		if err := s.addDirOwners(ctx, part, prefix, string(relJSON), string(skipJSON)); err != nil {
			return nil, err
		}
		if err := s.addFileOwners(ctx, part, skip, prefix, string(relJSON)); err != nil {
			return nil, err
		}
		for abs, o := range part {
			out[abs] = mergeOwner(out[abs], o)
		}
	}
	return out, nil
}

// mergeOwner gives the owner of a path that nested prefixes (a package
// under /opt recording p/bin, another under /opt/p recording bin) found
// twice, as Owners does: a file or symlink over a directory, else the
// first package by name; Created when either made it. o is never zero.
func mergeOwner(had, o Owner) Owner {
	if had.Name == "" {
		return o
	}
	created := had.Created || o.Created
	if (had.Type == TypeDir) == (o.Type == TypeDir) && had.Name < o.Name || had.Type != TypeDir && o.Type == TypeDir {
		o = had
	}
	o.Created = created
	return o
}

// prefixes lists the prefixes the packages were installed under.
func (s *Snapshot) prefixes(ctx context.Context) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT DISTINCT prefix FROM packages ORDER BY prefix`)
	if err != nil {
		return nil, s.db.damaged(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, s.db.damaged(err)
		}
		if err := CheckPrefix(p); err != nil {
			return nil, corrupt(s.db.path, "a package's prefix: %v", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.damaged(err)
	}
	return out, nil
}

// The queries of OwnersOf: ?1 the prefix, ?2 a JSON array of paths
// relative to it, ?3 a JSON array of package names to leave out. Both find
// the rows through the index files_path (TestOwnersOfUsesTheIndex).
const (
	dirOwnersQuery = `SELECT d.path, d.name, p.version, d.created FROM (
		SELECT f.path AS path, min(f.package) AS name, max(f.created) AS created
		FROM files f
		WHERE f.path IN (SELECT value FROM json_each(?2)) AND f.type = 'dir'
			AND f.package NOT IN (SELECT value FROM json_each(?3))
			AND f.package NOT IN (SELECT name FROM packages WHERE prefix <> ?1)
		GROUP BY f.path) d
	JOIN packages p ON p.name = d.name`
	fileOwnersQuery = `SELECT p.name, p.version, p.prefix, ` + fileColumns + `
	FROM files f JOIN packages p ON p.name = f.package
	WHERE f.path IN (SELECT value FROM json_each(?2)) AND f.type <> 'dir' AND p.prefix = ?1
	ORDER BY p.name, f.path`
)

// addDirOwners adds the directories among rels (a JSON array of paths
// relative to prefix) to out, each as one package that records it (the
// first by name, as Owners) and Created when any made it, leaving out the
// packages in skipped (a JSON array of names). A directory such as bin is
// recorded by nearly every package: aggregated here from the index alone,
// its rows never reach Go (1,500 of them: 0.6 ms, against 6.4 ms read one
// by one, 1.8 ms joined with each row's package for its prefix).
func (s *Snapshot) addDirOwners(ctx context.Context, out map[string]Owner, prefix, rels, skipped string) error {
	rows, err := s.q.QueryContext(ctx, dirOwnersQuery, prefix, rels, skipped)
	if err != nil {
		return s.db.damaged(err)
	}
	defer rows.Close()
	for rows.Next() {
		var rel, name, version string
		var created int64
		if err := rows.Scan(&rel, &name, &version, &created); err != nil {
			return s.db.damaged(err)
		}
		if err := manifest.ValidateName(name); err != nil {
			return corrupt(s.db.path, "package %q: name: %v", name, err)
		}
		if _, err := manifest.ParseVersion(version); err != nil {
			return corrupt(s.db.path, "package %q: version: %v", name, err)
		}
		AddOwner(out, Owner{Name: name, Version: version}, prefix, File{Path: rel, Type: TypeDir, Created: created != 0})
	}
	if err := rows.Err(); err != nil {
		return s.db.damaged(err)
	}
	return nil
}

// addFileOwners adds the files and symlinks among rels (a JSON array of
// paths relative to prefix) to out, over a directory of the same path.
func (s *Snapshot) addFileOwners(ctx context.Context, out map[string]Owner, skip map[string]bool, prefix, rels string) error {
	rows, err := s.q.QueryContext(ctx, fileOwnersQuery, prefix, rels)
	if err != nil {
		return s.db.damaged(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, version, prefix string
		f, err := s.db.scanFile(rows, &name, &name, &version, &prefix)
		if err != nil {
			return err
		}
		if !skip[name] {
			AddOwner(out, Owner{Name: name, Version: version}, prefix, f)
		}
	}
	if err := rows.Err(); err != nil {
		return s.db.damaged(err)
	}
	return nil
}

// AddOwner records pkg as the owner of f under prefix: a file or symlink
// over a directory of the same path, a directory Created when any package
// made it.
func AddOwner(out map[string]Owner, pkg Owner, prefix string, f File) {
	abs := filepath.Join(prefix, filepath.FromSlash(f.Path))
	o, seen := out[abs]
	if !seen || (o.Type == TypeDir && f.Type != TypeDir) {
		o = Owner{Name: pkg.Name, Version: pkg.Version, Type: f.Type, Created: o.Created}
	}
	o.Created = o.Created || (f.Type == TypeDir && f.Created)
	out[abs] = o
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
