package state

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func noteOf(name, version, which string) Script {
	return Script{Script: which, Name: name, Version: version, Archive: name + "-" + version + ".tar.zst", SHA256: strings.Repeat("a", 64), Size: 10, Prefix: "/opt/p"}
}

// TestScriptNotes follows a transaction's notes of the scripts it starts:
// noted before the start, its process group and end recorded, read back in
// order by a recovery, and forgotten by the commit that settles them or
// by SettleScripts.
func TestScriptNotes(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	old, err := db.NoteScript(ctx, noteOf("app", "1.0.0", ScriptUninstall))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ScriptRan(ctx, old); err != nil {
		t.Fatal(err)
	}
	inst, err := db.NoteScript(ctx, noteOf("app", "1.1.0", ScriptInstall))
	if err != nil {
		t.Fatal(err)
	}
	proc := Process{PGID: 4242, Start: 99, Boot: "b00t"}
	if err := db.ScriptStarted(ctx, inst, proc); err != nil {
		t.Fatal(err)
	}
	got, err := db.Scripts(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("Scripts: %v, %v", got, err)
	}
	if got[0].ID != old || got[0].Script != ScriptUninstall || !got[0].Ran || got[0].Process != (Process{}) {
		t.Fatalf("first note: %+v", got[0])
	}
	if got[1].ID != inst || got[1].Version != "1.1.0" || got[1].Ran || got[1].Process != proc || got[1].Record().Archive != "app-1.1.0.tar.zst" {
		t.Fatalf("second note: %+v", got[1])
	}
	if left, _, err := Interrupted(ctx, db.Path()); err != nil || left != InterruptedScript {
		t.Fatalf("Interrupted with notes left: %v, %v", left, err)
	}

	// A commit settles the notes it names, in its transaction.
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("app", "1.1.0")}}, Settle: []int64{inst}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Scripts(ctx); len(got) != 1 || got[0].ID != old {
		t.Fatalf("after the commit: %+v", got)
	}
	if err := db.SettleScripts(ctx, old, old); err != nil { // twice is harmless
		t.Fatal(err)
	}
	if got, _ := db.Scripts(ctx); len(got) != 0 {
		t.Fatalf("after SettleScripts: %+v", got)
	}
	if left, _, _ := Interrupted(ctx, db.Path()); left != NotInterrupted {
		t.Fatal("Interrupted with no notes and no journal")
	}
}

// TestScriptNoteChecked: a note that does not follow a record's rules is
// refused when written and, planted by hand, when read: a recovery never
// unpacks or runs anything it names.
func TestScriptNoteChecked(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(*Script){
		"other script":   func(s *Script) { s.Script = "postinst" },
		"bad name":       func(s *Script) { s.Name, s.Archive = "../x", "../x-1.0.0.tar.zst" },
		"bad version":    func(s *Script) { s.Version = "1.0.0/../../x" },
		"other archive":  func(s *Script) { s.Archive = "other-1.0.0.tar.zst" },
		"short sha256":   func(s *Script) { s.SHA256 = "abc" },
		"relative":       func(s *Script) { s.Prefix = "opt/p" },
		"negative group": func(s *Script) { s.Process.PGID = -1 },
	}
	if strconv.IntSize == 64 {
		// kill(2) took its low 32 bits: another group.
		past := int64(1)<<32 + 1
		cases["group past 32 bits"] = func(s *Script) { s.Process.PGID = int(past) }
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			db, path := openTest(t)
			s := noteOf("app", "1.0.0", ScriptInstall)
			edit(&s)
			if _, err := db.NoteScript(ctx, s); err == nil {
				t.Fatal("NoteScript took it")
			}
			execRaw(t, path, `INSERT INTO scripts (name, version, script, archive, sha256, size, prefix, pgid, started, boot, ran) VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0, '', 0)`,
				s.Name, s.Version, s.Script, s.Archive, s.SHA256, s.Prefix, s.Process.PGID)
			if _, err := db.Scripts(ctx); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Scripts of a planted note: %v, want a CorruptError", err)
			}
		})
	}
}

// TestMigrateVersion3: a version 3 state (no table scripts) is read as it
// is by OpenRead, with no notes, and gains the table at Open.
func TestMigrateVersion3(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	db.Close()
	execRaw(t, path, `DROP TABLE scripts`)
	execRaw(t, path, `UPDATE meta SET schema_version = 3`)
	r, ok, err := OpenRead(ctx, path)
	if err != nil || !ok {
		t.Fatalf("OpenRead of version 3: %v", err)
	}
	if got, err := r.Scripts(ctx); err != nil || got != nil {
		t.Fatalf("Scripts of version 3: %v, %v", got, err)
	}
	r.Close()
	db, err = Open(ctx, path, "/opt/p")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.NoteScript(ctx, noteOf("app", "1.0.0", ScriptInstall)); err != nil {
		t.Fatalf("NoteScript after the migration: %v", err)
	}
}
