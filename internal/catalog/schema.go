package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The schema, as SQLite stores it in sqlite_schema. SQLite keeps the CREATE
// text verbatim, so a file can be compared to it exactly: a catalog from the
// network with an extra view, trigger or a column computed by an expensive
// expression is refused before any query runs against it.
//
// The meta table has an id and a schema_version column in every schema
// version, so that any version can read another's schema_version and refuse
// it clearly (verifySchema reads it before comparing the rest).
//
// Version 2 added valid_until (the end of the publication's validity, as
// apt's Valid-Until); Open migrates a version-1 working catalog.
const (
	createMeta = `CREATE TABLE meta (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	schema_version INTEGER NOT NULL,
	serial         INTEGER NOT NULL,
	created        INTEGER NOT NULL,
	valid_until    INTEGER NOT NULL
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

// wantSchema lists every object of a catalog of SchemaVersion, ordered by name.
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
		created, validUntil, _ := db.stamp()
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO meta (id, schema_version, serial, created, valid_until) VALUES (1, ?, 0, ?, ?)`,
			SchemaVersion, created, validUntil); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if err := db.migrate(ctx, tx); err != nil {
		return err
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

	// Read the version first, from a meta table of any shape: a catalog of
	// another version has other tables, and "unsupported schema" is the
	// useful error then.
	version, err := schemaVersion(ctx, q, got)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotCatalog, db.path, err)
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: %s: schema version %d, this distpac understands %d (upgrade distpac)",
			ErrSchema, db.path, version, SchemaVersion)
	}
	if version != SchemaVersion {
		return fmt.Errorf("%w: %s: schema version %d, this distpac understands %d (it was made by an older distpac: sync again, or upgrade the server that published it)",
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

// schemaVersion reads meta.schema_version from a meta table of any shape.
func schemaVersion(ctx context.Context, q querier, got []schemaObject) (int64, error) {
	if !slices.ContainsFunc(got, func(o schemaObject) bool { return o.typ == "table" && o.name == "meta" }) {
		return 0, errors.New("no meta table")
	}
	var version int64
	err := q.QueryRowContext(ctx, `SELECT schema_version FROM meta WHERE id = 1`).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errors.New("no meta row")
	}
	if err != nil {
		return 0, fmt.Errorf("read meta: %w", err)
	}
	return version, nil
}

// createMetaV1 is the meta table of schema version 1, which lacked
// valid_until.
const createMetaV1 = `CREATE TABLE meta (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	schema_version INTEGER NOT NULL,
	serial         INTEGER NOT NULL,
	created        INTEGER NOT NULL
) STRICT`

// migrate brings a version-1 working catalog to version 2 inside the
// caller's transaction: a new meta table with valid_until replaces the old
// one (created fresh rather than altered, so SQLite keeps its CREATE text
// exactly as verifySchema expects), and the serial grows, since the next
// publication's bytes differ from the last one's and clients refuse a known
// serial with other bytes.
func (db *DB) migrate(ctx context.Context, tx *sql.Tx) error {
	var sqlText sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'meta'`).Scan(&sqlText)
	if errors.Is(err, sql.ErrNoRows) || err == nil && sqlText.String != createMetaV1 {
		return nil // not version 1: verifySchema judges it
	}
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	created, validUntil, least := db.stamp()
	for _, stmt := range []string{
		`ALTER TABLE meta RENAME TO meta_v1`,
		createMeta,
		`INSERT INTO meta (id, schema_version, serial, created, valid_until)
			SELECT id, 2, max(serial + 1, ?), ?, ? FROM meta_v1 WHERE schema_version = 1`,
		`DROP TABLE meta_v1`,
	} {
		args := []any{}
		if strings.HasPrefix(stmt, "INSERT") {
			args = []any{least, created, validUntil}
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("migrate schema from version 1: %w", err)
		}
	}
	return nil
}
