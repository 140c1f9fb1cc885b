package state

// The journal of a transaction's moves: its steps and bounds, their check,
// and Begin/End/OpenJournal.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// OpKind is what one journaled step does.
type OpKind string

// The steps of a transaction that moves files.
const (
	// OpAway moves an existing path (Src) aside to Dst: a backup beside it
	// (deleted once the transaction is committed) or NAME.distpac-save
	// (kept). Undo moves it back.
	OpAway OpKind = "away"
	// OpPlace renames a staged path (Src, under the work directory) into
	// the prefix (Dst). Undo renames it back.
	OpPlace OpKind = "place"
	// OpRmdir removes the directory Src after the commit when it is empty.
	OpRmdir OpKind = "rmdir"
)

// Op is one step, journaled before it is done.
type Op struct {
	Kind     OpKind
	Src, Dst string
	// Ino is the inode of what moves (a rename keeps it): undo moves back
	// only that, so it can run again after a crash in the middle of it
	// and never mistakes a file it already put back for one to move.
	Ino uint64
}

// JournalFormat is the format of the journal (the txn row and its steps)
// this code writes and reads. BeginJournal keeps it in the file's header,
// PRAGMA user_version, in the transaction that writes the journal: no
// table changes, so the schema version (meta) stays, and an older
// dist-client, which ignores user_version, is not locked out of the whole
// state, as a schema version above its own would lock it. A journal
// written before the format was (user_version 0) is of format 1. A
// dist-client that changes what a step means raises it; OpenJournal
// refuses a journal of a format above its own rather than misapply it.
const JournalFormat = 1

// Journal is a transaction that moves files in the prefix.
type Journal struct {
	// Work is the transaction's staging directory, on the prefix's
	// filesystem; it is removed when the transaction ends.
	Work      string
	Committed bool
	Ops       []Op
	// History, when set, is the running history entry of the command
	// whose transaction this is, and Changes what its commit records:
	// BeginJournal writes them into that entry with the journal, so that
	// a recovery after a kill can say what it rolled back (the entry held
	// no changes until the commit). OpenJournal does not read them back.
	History int64
	Changes []HistoryChange
}

// Bounds are where a journal may move files: under the prefixes of the
// installation it belongs to, and in its work directory, made in Staging
// (the data home's) or in a prefix's StagingDirName. BeginJournal and
// OpenJournal add the prefixes the installed records name (an upgrade or
// removal moves files out of a package's own prefix) to those given.
type Bounds struct {
	Staging  string
	Prefixes []string
}

// ValidateJournal checks a journal read back from disk, so that a damaged
// or hand-edited one can only rename between the prefixes of b and
// distpac's own staging and backup names in them, never delete or move
// anything else.
func ValidateJournal(j Journal, b Bounds) error {
	if err := CheckPrefix(j.Work); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	if base, parent := filepath.Base(j.Work), filepath.Dir(j.Work); !strings.HasPrefix(base, "txn-") || !b.stagingRoot(parent) {
		return fmt.Errorf("work directory %q is not a distpac staging directory (%s)", j.Work, b.describe(true))
	}
	for i, op := range j.Ops {
		if err := validateOp(j.Work, op, b); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return nil
}

// stagingRoot reports whether dir is where work directories are made.
func (b Bounds) stagingRoot(dir string) bool {
	if b.Staging != "" && dir == filepath.Clean(b.Staging) {
		return true
	}
	for _, p := range b.Prefixes {
		if dir == filepath.Join(p, StagingDirName) {
			return true
		}
	}
	return false
}

// inPrefix reports whether p is under one of the prefixes.
func (b Bounds) inPrefix(p string) bool {
	for _, pr := range b.Prefixes {
		if within(filepath.Clean(pr), p) {
			return true
		}
	}
	return false
}

func (b Bounds) describe(staging bool) string {
	var s string
	switch len(b.Prefixes) {
	case 0:
		s = "no prefix is known"
	case 1:
		s = "the prefix is " + b.Prefixes[0]
	default:
		s = "the prefixes are " + strings.Join(b.Prefixes, ", ")
	}
	if staging && b.Staging != "" {
		s += "; the staging directory is " + b.Staging
	}
	return s
}

// outside is the error of a step that leaves the bounds.
func (b Bounds) outside(op Op, p string) error {
	return fmt.Errorf("%s %q -> %q: %q is outside the prefix (%s)", op.Kind, op.Src, op.Dst, p, b.describe(false))
}

// StagingDirName is the staging directory made in a prefix that is not on
// the data home's filesystem.
const StagingDirName = ".distpac-staging"

func validateOp(work string, op Op, b Bounds) error {
	for _, p := range []string{op.Src, op.Dst} {
		if p == "" && op.Kind == OpRmdir {
			continue
		}
		if err := CheckPrefix(p); err != nil {
			return fmt.Errorf("%s %q -> %q: %w", op.Kind, op.Src, op.Dst, err)
		}
	}
	switch op.Kind {
	case OpPlace:
		if !within(work, op.Src) || within(work, op.Dst) {
			return fmt.Errorf("place %q -> %q: not from the work directory into the prefix", op.Src, op.Dst)
		}
		if !b.inPrefix(op.Dst) {
			return b.outside(op, op.Dst)
		}
	case OpAway:
		if !IsBackup(op) && !isSaveName(op.Src, op.Dst) {
			return fmt.Errorf("away %q -> %q: not a backup or save name beside it", op.Src, op.Dst)
		}
		if !b.inPrefix(op.Src) {
			return b.outside(op, op.Src)
		}
	case OpRmdir:
		if op.Dst != "" {
			return fmt.Errorf("rmdir %q has a destination", op.Src)
		}
		if !b.inPrefix(op.Src) {
			return b.outside(op, op.Src)
		}
	default:
		return fmt.Errorf("unknown step %q", op.Kind)
	}
	return nil
}

func within(dir, p string) bool {
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

// BeginJournal records a transaction's steps before any of them is done.
// There must be no other journal.
func (db *DB) BeginJournal(ctx context.Context, j Journal, b Bounds) error {
	b, err := db.bounds(ctx, b)
	if err != nil {
		return err
	}
	if err := ValidateJournal(j, b); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return db.saveErr(db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO txn (id, work, committed) VALUES (1, ?, 0)`, j.Work); err != nil {
			return fmt.Errorf("journal: another transaction is open: %w", err)
		}
		// A pragma takes no parameter; the value is this constant.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, JournalFormat)); err != nil {
			return err
		}
		if j.History != 0 && len(j.Changes) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE history SET changes = ? WHERE id = ? AND result = ?`, marshal(j.Changes), j.History, ResultRunning); err != nil {
				return err
			}
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO journal (seq, op, src, dst, ino) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, op := range j.Ops {
			if _, err := stmt.ExecContext(ctx, i, string(op.Kind), op.Src, op.Dst, int64(op.Ino)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// EndJournal forgets the transaction once its steps are finished or
// undone, and its format (JournalFormat) with it: a format left behind
// would be read as that of the next journal, which a dist-client from
// before formats writes without one (a newer one's format 2 left at rest
// would have this one refuse an older one's journal as newer).
func (db *DB) EndJournal(ctx context.Context) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM journal`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `PRAGMA user_version = 0`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM txn`)
		return err
	}))
}

// OpenJournal reads the journal of a transaction that did not end (a crash,
// a kill -9, a full disk); nil when there is none. A journal that moves
// anything outside b (and the prefixes the records name) is refused, with
// nothing touched: only a hand-made one does, and undoing it would rename
// and delete what its maker chose. So is one of a newer dist-client's
// format (JournalFormat), before a step of it is read.
func (db *DB) OpenJournal(ctx context.Context, b Bounds) (*Journal, error) {
	var j Journal
	var committed int64
	err := db.sql.QueryRowContext(ctx, `SELECT work, committed FROM txn WHERE id = 1`).Scan(&j.Work, &committed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.damaged(err)
	}
	j.Committed = committed != 0
	var format int64
	if err := db.sql.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&format); err != nil {
		return nil, db.damaged(err)
	}
	switch {
	case format > JournalFormat:
		return nil, fmt.Errorf("journal in %s was written by a newer dist-client (format %d, this one reads up to %d): run the newer dist-client's recover",
			db.path, format, JournalFormat)
	case format < 0:
		return nil, corrupt(db.path, "journal format %d (user_version): not one dist-client writes, so the interrupted transaction was not rolled back and nothing was touched", format)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT op, src, dst, ino FROM journal ORDER BY seq`)
	if err != nil {
		return nil, db.damaged(err)
	}
	defer rows.Close()
	for rows.Next() {
		var op Op
		var kind string
		var ino int64
		if err := rows.Scan(&kind, &op.Src, &op.Dst, &ino); err != nil {
			return nil, db.damaged(err)
		}
		op.Kind, op.Ino = OpKind(kind), uint64(ino)
		j.Ops = append(j.Ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, db.damaged(err)
	}
	if b, err = db.bounds(ctx, b); err != nil {
		return nil, err
	}
	if err := ValidateJournal(j, b); err != nil {
		return nil, corrupt(db.path, "the journal of an interrupted transaction is not one dist-client writes, so it was not rolled back "+
			"and nothing was touched (if others can write to the data directory, someone may have planted it): %v", err)
	}
	return &j, nil
}

// bounds adds to b the prefixes the installed records name. They come
// from the same file as the journal: the bounds keep a damaged or stale
// journal inside the installation, not a writer of installed.db, who can
// add a record naming any prefix (a review). What keeps such a writer out
// is that nobody else can write the data directory (safedir, checked
// before the state is opened).
func (db *DB) bounds(ctx context.Context, b Bounds) (Bounds, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT prefix FROM packages`)
	if err != nil {
		return b, db.damaged(err)
	}
	defer rows.Close()
	out := Bounds{Staging: b.Staging, Prefixes: slices.Clone(b.Prefixes)}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return b, db.damaged(err)
		}
		if CheckPrefix(p) == nil && !slices.Contains(out.Prefixes, p) {
			out.Prefixes = append(out.Prefixes, p)
		}
	}
	if err := rows.Err(); err != nil {
		return b, db.damaged(err)
	}
	return out, nil
}
