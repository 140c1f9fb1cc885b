package state

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWhatWaitsForTheDisk: the journal's start and the commit are on the
// disk when they return (synchronous=FULL); the history's writes and the
// journal's end are not waited for (NORMAL), and leave the connection at
// FULL for what follows. Before, every one of them waited for an fsync of
// the WAL: seven in an install.
func TestWhatWaitsForTheDisk(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	var levels []int
	beforeCommit = func(level int) { levels = append(levels, level) }
	t.Cleanup(func() { beforeCommit = nil })
	work := filepath.Join(filepath.Dir(path), "staging", "txn-1")
	j := Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"}}}
	b := Bounds{Staging: filepath.Dir(work), Prefixes: []string{"/opt/p"}}
	var id int64
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"StartHistory", func() (err error) { id, err = db.StartHistory(ctx, "install x"); return err }, syncNormal},
		{"NoteDownloaded", func() error { return db.NoteDownloaded(ctx, id, 100) }, syncNormal},
		{"BeginJournal", func() error { return db.BeginJournal(ctx, j, b) }, syncFull},
		{"Commit", func() error {
			return db.Commit(ctx, Change{Put: []Package{{Record: rec("x", "1.0.0")}}, History: HistoryEnd{ID: id}})
		}, syncFull},
		{"EndJournal", func() error { return db.EndJournal(ctx) }, syncNormal},
		{"FinishHistory", func() error { return db.FinishHistory(ctx, HistoryEnd{ID: id, Result: ResultOK}) }, syncNormal},
		{"MarkInterrupted", func() error { return db.MarkInterrupted(ctx) }, syncNormal},
		{"DropHistory", func() error { return db.DropHistory(ctx, id) }, syncNormal},
		{"Commit after them", func() error { return db.Commit(ctx, Change{Remove: []string{"x"}}) }, syncFull},
	}
	for _, s := range steps {
		levels = nil
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(levels) != 1 || levels[0] != s.want {
			t.Errorf("%s committed at synchronous %v, want %d", s.name, levels, s.want)
		}
		var after int
		if err := db.sql.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&after); err != nil || after != syncFull {
			t.Errorf("after %s the connection is at synchronous %d (%v), want %d", s.name, after, err, syncFull)
		}
	}
}

// TestScriptGroupOnTheDisk: a script's process group is in its note, which
// is on the disk (synchronous=FULL) before the script runs: after a loss
// of power a note tells of every script that may have run, with its group.
// Before, the group came in a later write that did not wait for the disk,
// so a note could lose it while its script ran.
func TestScriptGroupOnTheDisk(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	var levels []int
	beforeCommit = func(level int) { levels = append(levels, level) }
	t.Cleanup(func() { beforeCommit = nil })
	s := noteOf("app", "1.0.0", ScriptInstall)
	s.Process = Process{PGID: 4242, Start: 99, Boot: "b00t"}
	id, err := db.NoteScript(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 1 || levels[0] != syncFull {
		t.Errorf("NoteScript committed at synchronous %v, want one commit at %d", levels, syncFull)
	}
	got, err := db.Scripts(ctx)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Process != s.Process {
		t.Fatalf("Scripts = %+v, %v; want the note with group %+v", got, err, s.Process)
	}
}
