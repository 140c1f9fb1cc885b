package state

// The schema of installed.db: what a file must hold, exactly, before any
// query runs against it, and the migration from version 2.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// SchemaVersion is the state schema this code writes and reads. Version 1
// was installed.json; version 2 lacked the index files_path, and versions 2
// and 3 the table scripts, which Open adds (migrate).
const SchemaVersion = 4

// The schema as SQLite stores it in sqlite_schema; a file whose schema
// differs in any way is refused before a query runs against it.
var schema = []string{
	`CREATE TABLE meta (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	schema_version INTEGER NOT NULL
) STRICT`,
	`CREATE TABLE packages (
	name          TEXT    PRIMARY KEY,
	version       TEXT    NOT NULL,
	auto          INTEGER NOT NULL,
	held          INTEGER NOT NULL,
	depends       TEXT    NOT NULL,
	conflicts     TEXT    NOT NULL,
	archive       TEXT    NOT NULL,
	sha256        TEXT    NOT NULL,
	size          INTEGER NOT NULL,
	prefix        TEXT    NOT NULL,
	files_known   INTEGER NOT NULL,
	has_uninstall INTEGER NOT NULL,
	untracked     TEXT    NOT NULL,
	installed_at  INTEGER NOT NULL
) STRICT`,
	`CREATE TABLE files (
	package TEXT    NOT NULL,
	path    TEXT    NOT NULL,
	type    TEXT    NOT NULL,
	mode    INTEGER NOT NULL,
	size    INTEGER NOT NULL,
	sha256  TEXT    NOT NULL,
	target  TEXT    NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (package, path)
) STRICT, WITHOUT ROWID`,
	`CREATE TABLE history (
	id         INTEGER PRIMARY KEY,
	started    INTEGER NOT NULL,
	finished   INTEGER NOT NULL,
	command    TEXT    NOT NULL,
	changes    TEXT    NOT NULL,
	result     TEXT    NOT NULL,
	error      TEXT    NOT NULL,
	downloaded INTEGER NOT NULL,
	installed  INTEGER NOT NULL,
	transfer   TEXT    NOT NULL
) STRICT`,
	`CREATE TABLE txn (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	work      TEXT    NOT NULL,
	committed INTEGER NOT NULL
) STRICT`,
	`CREATE TABLE journal (
	seq  INTEGER PRIMARY KEY,
	op   TEXT    NOT NULL,
	src  TEXT    NOT NULL,
	dst  TEXT    NOT NULL,
	ino  INTEGER NOT NULL
) STRICT`,
	scriptsTable,
	filesPathIndex,
}

// The statements versions 2 and 3 lack, which migrate adds.
const (
	// Which packages record a path (OwnersOf): without it each install
	// read every installed file to check its own (with 10,000 files
	// installed, a one-file install took 135 ms of CPU against 40 ms).
	// Type and created make it cover the directories' query.
	filesPathIndex = `CREATE INDEX files_path ON files (path, type, created)`
	// The scripts a transaction started and has not settled (NoteScript):
	// after a kill -9 recovery undoes what they did outside the prefix.
	// A table of its own rather than journal steps: a script runs before
	// the journal of the moves is begun, and what undoes it (an
	// uninstall.sh, a restore) outlives that journal.
	scriptsTable = `CREATE TABLE scripts (
	seq     INTEGER PRIMARY KEY,
	name    TEXT    NOT NULL,
	version TEXT    NOT NULL,
	script  TEXT    NOT NULL,
	archive TEXT    NOT NULL,
	sha256  TEXT    NOT NULL,
	size    INTEGER NOT NULL,
	prefix  TEXT    NOT NULL,
	pgid    INTEGER NOT NULL,
	started INTEGER NOT NULL,
	boot    TEXT    NOT NULL,
	ran     INTEGER NOT NULL
) STRICT`
)

// The schemas of older versions: version 3 lacked the table scripts,
// version 2 the index files_path too. verifySchema reads the tables
// before the indexes (VACUUM, in Reclaim, writes them in that order), so
// the order of each list is that.
var (
	schemaV3 = slices.DeleteFunc(slices.Clone(schema), func(s string) bool { return s == scriptsTable })
	schemaV2 = slices.DeleteFunc(slices.Clone(schemaV3), func(s string) bool { return s == filesPathIndex })
)

// verifySchema compares sqlite_schema with the schema above and reads the
// schema version.
func (db *DB) verifySchema(ctx context.Context) error {
	// One snapshot: another process's Open may migrate the file between
	// two statements, and the old tables with the new version read as
	// damage.
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return db.damaged(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type DESC, rowid`)
	if err != nil {
		return db.damaged(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return db.damaged(err)
		}
		got = append(got, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.damaged(err)
	}
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT schema_version FROM meta WHERE id = 1`).Scan(&v); err != nil {
		if len(got) == 0 {
			return corrupt(db.path, "no tables: not a distpac state database")
		}
		return db.damaged(err)
	}
	want := schema
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("installed state %s: schema version %d was written by a newer dist-client (this one reads %d): upgrade dist-client", db.path, v, SchemaVersion)
	case v == 2:
		want = schemaV2
	case v == 3:
		want = schemaV3
	case v != SchemaVersion:
		return corrupt(db.path, "schema version %d, want %d", v, SchemaVersion)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		return corrupt(db.path, "unexpected tables: not the schema this dist-client writes")
	}
	db.version = v
	return nil
}

// migrate brings a version 2 or 3 database to SchemaVersion in one
// transaction (a kill -9 leaves the old version whole): it adds what the
// version lacks, the index files_path (which reads every file row once,
// measured: 22 ms for 20,000 files, 170 ms for 200,000) and the table
// scripts.
func (db *DB) migrate(ctx context.Context) error {
	if db.version == SchemaVersion {
		return nil
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.saveErr(err)
	}
	defer tx.Rollback()
	add := []string{scriptsTable}
	if db.version == 2 {
		add = append(add, filesPathIndex)
	}
	for _, stmt := range add {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return db.saveErr(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET schema_version = ? WHERE id = 1`, SchemaVersion); err != nil {
		return db.saveErr(err)
	}
	if err := tx.Commit(); err != nil {
		return db.saveErr(err)
	}
	db.version = SchemaVersion
	return nil
}

// quickCheck runs SQLite's structural check, which reads every page: with
// the index files_path, 12 ms for a state of 20,000 files and 91 ms for
// 200,000 (6 and 83 ms without it), at each locked open.
func (db *DB) quickCheck(ctx context.Context) error {
	var msg string
	if err := db.sql.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&msg); err != nil {
		return db.damaged(err)
	}
	if msg != "ok" {
		return corrupt(db.path, "SQLite check: %s", msg)
	}
	return nil
}
