package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Results of a transaction in the history.
const (
	ResultRunning     = "running"
	ResultOK          = "ok"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted" // by a signal, or the process died (the next one rolled it back or finished it)
)

// HistoryChange is one package a transaction changed; From or To is empty
// for an install or a removal. A mark, hold or unhold leaves the package
// at its version: From and To are empty, Version is the version and Mark
// says what changed (one of the Mark constants).
type HistoryChange struct {
	Name    string `json:"name"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Version string `json:"version,omitempty"`
	Mark    string `json:"mark,omitempty"`
}

// What a mark, hold or unhold changed (HistoryChange.Mark), in the words
// history shows: its CHANGES column said "-" for them.
const (
	MarkExplicit   = "marked explicit"
	MarkDependency = "marked dependency"
	MarkHeld       = "held"
	MarkUnheld     = "unheld"
)

// HistoryEntry is one transaction, as pacman.log and apt's history.log keep
// them.
type HistoryEntry struct {
	ID         int64           `json:"id"`
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished,omitzero"`
	Command    string          `json:"command"`
	Changes    []HistoryChange `json:"changes"`
	Result     string          `json:"result"`
	Error      string          `json:"error,omitempty"`
	Downloaded int64           `json:"downloaded_bytes"`
	Installed  int64           `json:"installed_bytes"`
	// Transfer is the command's transfer report (install's Report, as
	// JSON), when it downloaded anything.
	Transfer json.RawMessage `json:"transfer,omitempty"`
}

// HistoryEnd finishes a history entry.
type HistoryEnd struct {
	ID         int64
	Result     string
	Error      string
	Changes    []HistoryChange
	Downloaded int64
	Installed  int64
	// Transfer is a JSON object (or nil), at most maxTransferJSON bytes.
	Transfer []byte
}

// maxTransferJSON bounds the transfer report kept per entry (a thousand
// archives' reports).
const maxTransferJSON = 1 << 20

// maxHistoryText bounds the command and error kept per entry.
const maxHistoryText = 16 << 10

// StartHistory appends an entry for a transaction that begins now; a
// process that dies leaves it "running" until the next one marks it
// interrupted.
func (db *DB) StartHistory(ctx context.Context, command string) (int64, error) {
	var id int64
	err := db.inLogTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO history (started, finished, command, changes, result, error, downloaded, installed, transfer)
			VALUES (?, 0, ?, '[]', ?, '', 0, 0, '')`, db.now().UnixMilli(), clip(command), ResultRunning)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, db.saveErr(err)
}

// DropHistory removes the entry id of a command that changed nothing
// (StartHistory wrote it before the command knew).
func (db *DB) DropHistory(ctx context.Context, id int64) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM history WHERE id = ?`, id)
		return err
	}))
}

// FinishHistory ends an entry on its own (a failed transaction; a
// successful one ends it in Commit).
func (db *DB) FinishHistory(ctx context.Context, end HistoryEnd) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		return finishHistory(ctx, tx, db.now(), end)
	}))
}

func finishHistory(ctx context.Context, tx *sql.Tx, now time.Time, end HistoryEnd) error {
	changes := end.Changes
	if changes == nil {
		changes = []HistoryChange{}
	}
	finished := now.UnixMilli()
	if end.Result == ResultRunning {
		finished = 0
	}
	transfer := ""
	if len(end.Transfer) > 0 && len(end.Transfer) <= maxTransferJSON && json.Valid(end.Transfer) {
		transfer = string(end.Transfer)
	}
	_, err := tx.ExecContext(ctx, `UPDATE history SET finished = ?, changes = ?, result = ?, error = ?, downloaded = ?, installed = ?, transfer = ? WHERE id = ?`,
		finished, marshal(changes), end.Result, clip(end.Error), end.Downloaded, end.Installed, transfer, end.ID)
	return err
}

// NoteDownloaded records, while entry id is running, the bytes its
// command has downloaded so far: a process killed mid-download (kill -9,
// a crash, the machine's power) never finishes its entry, and history
// showed "0 B" for it however much had arrived. An entry that ended is
// left alone (its end has the final count).
func (db *DB) NoteDownloaded(ctx context.Context, id, downloaded int64) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE history SET downloaded = ? WHERE id = ? AND result = ? AND downloaded < ?`,
			downloaded, id, ResultRunning, downloaded)
		return err
	}))
}

// MarkInterrupted ends the entries of processes that died mid-way. Call it
// with the lock held, so that no live process is still running one. They
// made no change: a running entry's changes are those its journal was
// about to make (BeginJournal), which the recovery rolled back (a commit
// ends the entry), and history showed them as made.
func (db *DB) MarkInterrupted(ctx context.Context) error {
	return db.saveErr(db.inLogTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE history SET result = ?, finished = ?, changes = '[]' WHERE result = ?`,
			ResultInterrupted, db.now().UnixMilli(), ResultRunning)
		return err
	}))
}

// Running reads the entries left running, oldest first: with the lock
// held, those of processes that died mid-way, which MarkInterrupted ends.
func (db *DB) Running(ctx context.Context) ([]HistoryEntry, error) {
	return db.history(ctx, false, `WHERE result = ? ORDER BY id`, ResultRunning)
}

// HistoryQuery says which entries History reads, and how much of them.
type HistoryQuery struct {
	// Last reads only the last Last entries (0: all of them).
	Last int
	// Transfer reads each entry's transfer report too. It is left out
	// unless asked for: one holds up to a megabyte (maxTransferJSON, a
	// thousand archives' reports), and every one of a long history was
	// read into memory for a table that shows none of them.
	Transfer bool
}

// History reads the entries q selects, oldest first.
func (db *DB) History(ctx context.Context, q HistoryQuery) ([]HistoryEntry, error) {
	if q.Last > 0 {
		return db.history(ctx, q.Transfer, `WHERE id IN (SELECT id FROM history ORDER BY id DESC LIMIT ?) ORDER BY id`, q.Last)
	}
	return db.history(ctx, q.Transfer, `ORDER BY id`)
}

// RecentDownloads reads the last n entries that succeeded and downloaded
// at least min bytes, newest first.
func (db *DB) RecentDownloads(ctx context.Context, n int, min int64) ([]HistoryEntry, error) {
	return db.history(ctx, true, `WHERE result = ? AND downloaded >= ? ORDER BY id DESC LIMIT ?`, ResultOK, min, n)
}

// history reads the entries that the query's tail (WHERE, ORDER BY,
// LIMIT) selects, with their transfer reports when transfer is set.
func (db *DB) history(ctx context.Context, transfer bool, tail string, args ...any) ([]HistoryEntry, error) {
	transferColumn := "''"
	if transfer {
		transferColumn = "transfer"
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, started, finished, command, changes, result, error, downloaded, installed, `+transferColumn+` FROM history `+tail, args...)
	if err != nil {
		return nil, db.damaged(err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var e HistoryEntry
		var started, finished int64
		var changes, transfer string
		if err := rows.Scan(&e.ID, &started, &finished, &e.Command, &changes, &e.Result, &e.Error, &e.Downloaded, &e.Installed, &transfer); err != nil {
			return nil, db.damaged(err)
		}
		e.Started = time.UnixMilli(started).UTC()
		if finished != 0 {
			e.Finished = time.UnixMilli(finished).UTC()
		}
		if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
			return nil, corrupt(db.path, "history entry %d: changes: not a JSON list", e.ID)
		}
		if transfer != "" {
			if len(transfer) > maxTransferJSON || !json.Valid([]byte(transfer)) || transfer[0] != '{' {
				return nil, corrupt(db.path, "history entry %d: transfer: not a JSON object", e.ID)
			}
			e.Transfer = json.RawMessage(transfer)
		}
		switch e.Result {
		case ResultRunning, ResultOK, ResultFailed, ResultInterrupted:
		default:
			return nil, corrupt(db.path, "history entry %d: result %q", e.ID, clip(e.Result))
		}
		if !utf8.ValidString(e.Command) || !utf8.ValidString(e.Error) {
			return nil, corrupt(db.path, "history entry %d: text is not UTF-8", e.ID)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.damaged(err)
	}
	return out, nil
}

// clip bounds a text kept in the history.
func clip(s string) string {
	if len(s) <= maxHistoryText {
		return s
	}
	s = s[:maxHistoryText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// marshal is json.Marshal for values that cannot fail to encode.
func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of strings and numbers reach here
	}
	return string(b)
}
