package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// The schema, as SQLite stores it in sqlite_schema. SQLite keeps the CREATE
// text verbatim, so a file can be compared to it exactly: a catalog from the
// network with an extra view, trigger or a column computed by an expensive
// expression is refused before any query runs against it.
//
// The meta table keeps this shape in every schema version, so that any
// version can read another's schema_version and refuse it clearly.
const (
	createMeta = `CREATE TABLE meta (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	schema_version INTEGER NOT NULL,
	serial         INTEGER NOT NULL,
	created        INTEGER NOT NULL
) STRICT`

	createPackages = `CREATE TABLE packages (
	name           TEXT    NOT NULL,
	version        TEXT    NOT NULL,
	archive        TEXT    NOT NULL,
	size           INTEGER NOT NULL,
	installed_size INTEGER NOT NULL,
	sha256         TEXT    NOT NULL,
	infohash       TEXT    NOT NULL,
	magnet         TEXT    NOT NULL,
	torrent        BLOB    NOT NULL,
	description    TEXT    NOT NULL,
	license        TEXT    NOT NULL,
	homepage       TEXT    NOT NULL,
	depends        TEXT    NOT NULL,
	conflicts      TEXT    NOT NULL,
	published      INTEGER NOT NULL,
	PRIMARY KEY (name, version)
) STRICT`

	// Lookups by name ignore case (names are unique ignoring case).
	createNameIndex = `CREATE INDEX packages_lower_name ON packages (lower(name))`
)

// schemaObject is one row of sqlite_schema.
type schemaObject struct {
	typ, name, table string
	sql              sql.NullString
}

// wantSchema lists every object of a version-1 catalog, ordered by name.
var wantSchema = []schemaObject{
	{"table", "meta", "meta", sql.NullString{String: createMeta, Valid: true}},
	{"table", "packages", "packages", sql.NullString{String: createPackages, Valid: true}},
	{"index", "packages_lower_name", "packages", sql.NullString{String: createNameIndex, Valid: true}},
	{"index", "sqlite_autoindex_packages_1", "packages", sql.NullString{}},
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// initSchema creates the schema in a new, empty file and checks it in an
// existing one, in one transaction so two processes creating the same
// catalog at once do not both create it.
func (db *DB) initSchema(ctx context.Context) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		for _, stmt := range []string{createMeta, createPackages, createNameIndex} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO meta (id, schema_version, serial, created) VALUES (1, ?, 0, ?)`,
			SchemaVersion, db.now().Unix()); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if err := db.verifySchema(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// verifySchema checks that the file holds exactly the schema this code
// writes, at a schema version it understands, with its meta row.
func (db *DB) verifySchema(ctx context.Context, q querier) error {
	rows, err := q.QueryContext(ctx, `SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name`)
	if err != nil {
		return err
	}
	var got []schemaObject
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.typ, &o.name, &o.table, &o.sql); err != nil {
			rows.Close()
			return err
		}
		got = append(got, o)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	rows.Close()

	// Read the version first: a catalog of another version has other
	// tables, and "unsupported schema" is the useful error then.
	if !slices.Contains(got, wantSchema[0]) {
		return fmt.Errorf("%w: %s: no meta table", ErrNotCatalog, db.path)
	}
	var version int64
	err = q.QueryRowContext(ctx, `SELECT schema_version FROM meta WHERE id = 1`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s: no meta row", ErrNotCatalog, db.path)
	}
	if err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	if version != SchemaVersion {
		return fmt.Errorf("%w: %s: schema version %d, this distpac understands %d (upgrade distpac)",
			ErrSchema, db.path, version, SchemaVersion)
	}
	for _, o := range got {
		if !slices.Contains(wantSchema, o) {
			return fmt.Errorf("%w: %s: unexpected schema object %s %q", ErrNotCatalog, db.path, o.typ, o.name)
		}
	}
	for _, o := range wantSchema {
		if !slices.Contains(got, o) {
			return fmt.Errorf("%w: %s: missing schema object %s %q", ErrNotCatalog, db.path, o.typ, o.name)
		}
	}
	return nil
}
