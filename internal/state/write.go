package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Change is what one transaction does to the records. Commit writes it in
// one SQLite transaction together with the end of the journal and of the
// history entry.
type Change struct {
	Remove []string  // packages whose records and files go
	Put    []Package // records written with their files, replacing any of the same name
	// Mark updates records without touching their files (e.g. a package
	// asked for by name is no longer a dependency).
	Mark []Record
	// History, when its ID is set, is the entry this commit updates: its
	// result is "ok" unless set (a command of several commits keeps it
	// "running" until the last).
	History HistoryEnd
	// Settle lists the scripts (NoteScript) whose effects this commit
	// makes part of the installed state, or ends the undoing of: from
	// then on no recovery undoes them.
	Settle []int64
}

// Commit applies c. When a journal is open it is marked committed in the
// same transaction: from then on recovery finishes it instead of undoing
// it.
func (db *DB) Commit(ctx context.Context, c Change) error {
	for _, p := range c.Put {
		if err := ValidateRecord(p.Record); err != nil {
			return fmt.Errorf("save installed state: package %s: %w", p.Name, err)
		}
		for _, f := range p.Files {
			if err := ValidateFile(f); err != nil {
				return fmt.Errorf("save installed state: package %s: file %w", p.Name, err)
			}
		}
	}
	for _, r := range c.Mark {
		if err := ValidateRecord(r); err != nil {
			return fmt.Errorf("save installed state: package %s: %w", r.Name, err)
		}
	}
	return db.saveErr(db.inTx(ctx, func(tx *sql.Tx) error {
		for _, name := range c.Remove {
			if err := deletePackage(ctx, tx, name); err != nil {
				return err
			}
		}
		for _, p := range c.Put {
			if err := deletePackage(ctx, tx, p.Name); err != nil {
				return err
			}
			if err := putRecord(ctx, tx, p.Record); err != nil {
				return err
			}
			if err := putFiles(ctx, tx, p.Name, p.Files); err != nil {
				return err
			}
		}
		for _, r := range c.Mark {
			if err := putRecord(ctx, tx, r); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE txn SET committed = 1`); err != nil {
			return err
		}
		if err := settleScripts(ctx, tx, c.Settle); err != nil {
			return err
		}
		if c.History.ID != 0 {
			if c.History.Result == "" {
				c.History.Result = ResultOK
			}
			return finishHistory(ctx, tx, db.now(), c.History)
		}
		return nil
	}))
}

func deletePackage(ctx context.Context, tx *sql.Tx, name string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE package = ?`, name); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM packages WHERE name = ?`, name)
	return err
}

// filesPerInsert is how many rows one INSERT writes: one statement per row
// made recording 10,000 files take 60 ms, most of it per statement.
const filesPerInsert = 100

func putFiles(ctx context.Context, tx *sql.Tx, name string, files []File) error {
	// One prepared statement for every full batch: preparing an
	// 800-parameter INSERT for each batch took a third of the time.
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, 8*filesPerInsert)
	for len(files) > 0 {
		n := min(len(files), filesPerInsert)
		args = args[:0]
		for _, f := range files[:n] {
			args = append(args, name, f.Path, string(f.Type), UnixMode(f.Mode), f.Size, f.SHA256, f.Target, b2i(f.Created))
		}
		var err error
		if n < filesPerInsert {
			_, err = tx.ExecContext(ctx, insertFiles(n), args...)
		} else {
			if full == nil {
				full, err = tx.PrepareContext(ctx, insertFiles(n))
			}
			if err == nil {
				_, err = full.ExecContext(ctx, args...)
			}
		}
		if err != nil {
			return fmt.Errorf("files of %s: %w", name, err)
		}
		files = files[n:]
	}
	return nil
}

// insertFiles is the INSERT of n rows of files.
func insertFiles(n int) string {
	return `INSERT INTO files (package, path, type, mode, size, sha256, target, created) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", n), ", ")
}

// inTx runs fn in a transaction that is on the disk when it returns: its
// commit waits for the WAL's fsync (synchronous=FULL). The records and the
// journal are written so: a journal must be on the disk before the first
// file it undoes moves, and a commit before the command says it is done.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.tx(ctx, syncFull, fn)
}

// inLogTx runs fn in a transaction whose commit does not wait for the disk
// (synchronous=NORMAL): the history's entries, and the end of a journal.
// A crash of the process loses none of it (the kernel has the WAL's pages);
// a loss of power may take such transactions after the last one inTx
// committed, and only those (the WAL is replayed in order up to its last
// whole commit). Then an entry's start or end is not in the history (the
// commit that installed something ends its entry itself), or a journal
// that was finished or undone is still open, which the next command
// finishes or undoes again as after a kill -9. An install or an uninstall
// made nine fsyncs and now makes six (strace; the others are the WAL's
// creation and the checkpoint at the close), each a flush of the disk's
// cache: 5–30 ms on a spinning disk or an SD card.
func (db *DB) inLogTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.tx(ctx, syncNormal, fn)
}

// The levels of PRAGMA synchronous a transaction commits at.
const (
	syncNormal = 1
	syncFull   = 2
)

// beforeCommit, when set (by a test), is called with the synchronous level
// a transaction is about to commit at.
var beforeCommit func(level int)

// tx runs fn in a transaction committed at level, on the one connection
// (SetMaxOpenConns(1)); the level is set before each transaction, so none
// inherits another's, and put back to FULL after one at NORMAL, so that a
// write outside tx (Reclaim's VACUUM) keeps the open's FULL.
func (db *DB) tx(ctx context.Context, level int, fn func(tx *sql.Tx) error) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A pragma takes no parameter; level is one of the constants above.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA synchronous = %d`, level)); err != nil {
		return err
	}
	if level != syncFull {
		defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA synchronous = %d`, syncFull))
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if beforeCommit != nil {
		var got int
		if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&got); err != nil {
			return err
		}
		beforeCommit(got)
	}
	return tx.Commit()
}
