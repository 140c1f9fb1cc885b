package state

// The scripts a transaction started: noted before each starts, settled
// when what they did is committed or undone, and read by the recovery of
// a transaction killed in between.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
)

// Script is a package's script that a transaction started: the package
// version it is of, its archive in the cache (to unpack the package again
// and run its other script) and the prefix it ran with.
type Script struct {
	// ID is its row (NoteScript sets it).
	ID int64
	// Script is "install.sh" (of a version being installed) or
	// "uninstall.sh" (of the installed version an upgrade replaces).
	Script  string
	Name    string
	Version string
	Archive string
	SHA256  string
	Size    int64 // the installed size the catalog declared
	Prefix  string
	// Process is the script's process group, once it started
	// (ScriptStarted); zero before.
	Process Process
	// Ran says the script exited 0 (ScriptRan).
	Ran bool
}

// Process names a script's process group so that a later process can
// tell whether it is still that script's: its id (the leader's pid), the
// leader's start time in clock ticks since boot and the boot it ran in
// (Linux's /proc). Start and Boot are empty where the system does not
// tell them.
type Process struct {
	PGID  int
	Start uint64
	Boot  string
}

// Record is the installed version the script is of, as far as its row
// tells: enough to unpack its package and run a script of it.
func (s Script) Record() Record {
	return Record{Name: s.Name, Version: s.Version, Archive: s.Archive, SHA256: s.SHA256, Size: s.Size, Prefix: s.Prefix}
}

// The scripts a row may name.
const (
	ScriptInstall   = "install.sh"
	ScriptUninstall = "uninstall.sh"
)

// validateScript checks a row with the rules of a record, so that a
// damaged or planted one cannot name a path or an archive outside them.
func validateScript(s Script) error {
	if s.Script != ScriptInstall && s.Script != ScriptUninstall {
		return fmt.Errorf("script %q is not install.sh or uninstall.sh", s.Script)
	}
	if err := ValidateRecord(s.Record()); err != nil {
		return err
	}
	// A pid is at most 2^22 on Linux; one past 2^31-1 reached kill(2) cut
	// to its low 32 bits, another group (an attacker's run: only /proc
	// kept it from being killed).
	if s.Process.PGID < 0 || s.Process.PGID > math.MaxInt32 || len(s.Process.Boot) > 64 || strings.ContainsAny(s.Process.Boot, "\n\x00") {
		return fmt.Errorf("process group %d or boot %q out of range", s.Process.PGID, s.Process.Boot)
	}
	return nil
}

// maxScripts bounds the rows a recovery reads: a transaction notes one or
// two per package of its plan, and no plan holds this many.
const maxScripts = 100000

// NoteScript records, on the disk (synchronous=FULL), that the script s
// is starting in the process group s.Process, and returns its ID. Call it
// with the lock held, once the script's process exists and before the
// script runs (script.Env.Started holds it until then), so that the note
// and its group are there when the script's first effect is, and after a
// kill or a loss of power at any point a note tells of every script that
// may have run. Before the note it writes "noted ID" to the marks
// (OpenMarks), which the script's process follows with "started ID"
// (StartedMark) as it starts: a note whose script never started (killed
// in between) is told apart by UnstartedScripts. The marks go when no
// script is noted.
func (db *DB) NoteScript(ctx context.Context, s Script) (int64, error) {
	if err := validateScript(s); err != nil {
		return 0, fmt.Errorf("note %s of %s %s: %w", s.Script, s.Name, s.Version, err)
	}
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n, last int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(max(seq), 0) FROM scripts`).Scan(&n, &last); err != nil {
			return err
		}
		// The ID is chosen, and its "noted" line written, before the
		// note is: a kill in between leaves a line no note has, which a
		// later note of that ID follows (the last "noted" line counts).
		id = last + 1
		if err := db.mark(n == 0, notedMark(id)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO scripts (seq, name, version, script, archive, sha256, size, prefix, pgid, started, boot, ran)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`, id, s.Name, s.Version, s.Script, s.Archive, s.SHA256, s.Size, s.Prefix, s.Process.PGID, int64(s.Process.Start), s.Process.Boot)
		return err
	})
	return id, db.saveErr(err)
}

// ScriptStarted records p as the process group of the script noted as id:
// a recovery's uninstall.sh, run to undo the noted install.sh, names its
// own group there, so that the recovery after a kill of that one kills
// it. It does not wait for the disk: only a process still running after a
// kill needs it, and a loss of power leaves none.
func (db *DB) ScriptStarted(ctx context.Context, id int64, p Process) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE scripts SET pgid = ?, started = ?, boot = ? WHERE seq = ?`, p.PGID, int64(p.Start), p.Boot, id)
		return err
	}))
}

// ScriptRan records that the script noted as id exited 0. Like
// ScriptStarted it does not wait for the disk: a kill -9 loses none of it,
// and after a loss of power the script is taken as stopped half-way.
func (db *DB) ScriptRan(ctx context.Context, id int64) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE scripts SET ran = 1 WHERE seq = ?`, id)
		return err
	}))
}

// SettleScripts forgets the scripts noted as ids: what they did is
// committed, or was undone (or could not be, which was said).
func (db *DB) SettleScripts(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error { return settleScripts(ctx, tx, ids) }))
}

func settleScripts(ctx context.Context, tx *sql.Tx, ids []int64) error {
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM scripts WHERE seq = ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, id := range ids {
		if _, err := stmt.ExecContext(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Scripts reads the scripts noted and not settled, in the order they were
// noted: with the lock held, those of a process that died mid-way. A
// database of version 3 or older (read by OpenRead) has none.
func (db *DB) Scripts(ctx context.Context) ([]Script, error) {
	if db.version < 4 {
		return nil, nil
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT seq, name, version, script, archive, sha256, size, prefix, pgid, started, boot, ran
		FROM scripts ORDER BY seq LIMIT ?`, maxScripts+1)
	if err != nil {
		return nil, db.damaged(err)
	}
	defer rows.Close()
	var out []Script
	for rows.Next() {
		var s Script
		var start, ran int64
		if err := rows.Scan(&s.ID, &s.Name, &s.Version, &s.Script, &s.Archive, &s.SHA256, &s.Size, &s.Prefix, &s.Process.PGID, &start, &s.Process.Boot, &ran); err != nil {
			return nil, db.damaged(err)
		}
		s.Process.Start, s.Ran = uint64(start), ran != 0
		if err := validateScript(s); err != nil {
			return nil, corrupt(db.path, "the scripts an interrupted transaction started are not as dist-client notes them, so none was undone: %v", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.damaged(err)
	}
	if len(out) > maxScripts {
		return nil, corrupt(db.path, "more than %d scripts noted as started: not what dist-client notes, so none was undone", maxScripts)
	}
	return out, nil
}
