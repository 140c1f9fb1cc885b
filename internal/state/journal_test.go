package state

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestJournal(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	work := filepath.Join(filepath.Dir(path), "staging", "txn-1")
	j := Journal{Work: work, Ops: []Op{
		{Kind: OpAway, Src: "/opt/p/bin/x", Dst: "/opt/p/bin/.distpac-1-0"},
		{Kind: OpAway, Src: "/opt/p/etc/c", Dst: "/opt/p/etc/c.distpac-save.2"},
		{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"},
		{Kind: OpRmdir, Src: "/opt/p/share/old"},
	}}
	b := Bounds{Staging: filepath.Dir(work), Prefixes: []string{"/opt/p"}}
	if got, err := db.OpenJournal(ctx, b); err != nil || got != nil {
		t.Fatalf("OpenJournal before any = %+v, %v", got, err)
	}
	if err := db.BeginJournal(ctx, j, b); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginJournal(ctx, j, b); err == nil {
		t.Fatal("a second journal was accepted")
	}
	got, err := db.OpenJournal(ctx, b)
	if err != nil || got == nil || got.Committed || len(got.Ops) != 4 || got.Ops[2] != j.Ops[2] {
		t.Fatalf("OpenJournal = %+v, %v", got, err)
	}
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("x", "1.0.0")}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.OpenJournal(ctx, b); got == nil || !got.Committed {
		t.Fatalf("journal after commit = %+v", got)
	}
	if err := db.EndJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.OpenJournal(ctx, b); got != nil {
		t.Fatalf("journal after end = %+v", got)
	}
}

func TestValidateJournal(t *testing.T) {
	work := "/d/client/staging/txn-9"
	b := Bounds{Staging: "/d/client/staging", Prefixes: []string{"/opt/p"}}
	bad := []struct {
		j    Journal
		want string
	}{
		{Journal{Work: "/home/u", Ops: nil}, "not a distpac staging directory"},
		{Journal{Work: "/home/u/staging/txn-1"}, "not a distpac staging directory"},
		{Journal{Work: "/srv/q/" + StagingDirName + "/txn-1"}, "not a distpac staging directory"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: "/etc/passwd", Dst: "/opt/p/x"}}}, "not from the work directory"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/x", Dst: work + "/y"}}}, "not from the work directory"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/tmp/.distpac-1"}}}, "not a backup"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/x.distpac-save/y"}}}, "not a backup"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/y"}}}, "not a backup"},
		{Journal{Work: work, Ops: []Op{{Kind: "delete", Src: "/opt/p/x"}}}, "empty"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/../../x", Dst: "/opt/p/x"}}}, "not an absolute, clean path"},
		// Confinement: the prefix, and nothing else, whatever the step.
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/etc/shadow", Ino: 1}}},
			`step 1: place "/d/client/staging/txn-9/a" -> "/etc/shadow": "/etc/shadow" is outside the prefix (the prefix is /opt/p)`},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/tmp/atk/victim-secret/precious", Ino: 1}}}, "outside the prefix"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/opt/p", Ino: 1}}}, "outside the prefix"},
		{Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/opt/pp/x", Ino: 1}}}, "outside the prefix"},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/etc/shadow", Dst: "/etc/.distpac-1-0", Ino: 1}}}, `step 1: away "/etc/shadow"`},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/etc/shadow", Dst: "/etc/shadow.distpac-save"}}}, `"/etc/shadow" is outside the prefix`},
		{Journal{Work: work, Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/.distpac-1"}, {Kind: OpRmdir, Src: "/etc"}}}, `step 2: rmdir "/etc"`},
	}
	for _, tt := range bad {
		err := ValidateJournal(tt.j, b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateJournal(%+v) = %v, want %q", tt.j, err, tt.want)
		}
	}
	good := []Journal{
		{Work: "/opt/p/" + StagingDirName + "/txn-3", Ops: []Op{{Kind: OpAway, Src: "/opt/p/x", Dst: "/opt/p/x.distpac-save"}}},
		{Work: work, Ops: []Op{
			{Kind: OpAway, Src: "/opt/p/bin/x", Dst: "/opt/p/bin/.distpac-1-0"},
			{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"},
			{Kind: OpRmdir, Src: "/opt/p/share/old"},
		}},
	}
	for _, j := range good {
		if err := ValidateJournal(j, b); err != nil {
			t.Error(err)
		}
	}
}

// TestOpenJournalConfined: a journal written into installed.db by hand (an
// attacker who could write the file) that moves a file outside the prefix
// is refused when read back, before recovery undoes anything, and the
// refusal names the step and the path; the prefixes of installed records
// count as the installation's.
func TestOpenJournalConfined(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	staging := filepath.Join(filepath.Dir(path), "staging")
	work := filepath.Join(staging, "txn-1")
	wide := Bounds{Staging: staging, Prefixes: []string{"/opt/p", "/tmp/atk"}}
	evil := Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/a", Dst: "/tmp/atk/victim-secret/precious", Ino: 7}}}
	if err := db.BeginJournal(ctx, evil, wide); err != nil {
		t.Fatal(err)
	}
	b := Bounds{Staging: staging, Prefixes: []string{"/opt/p"}}
	j, err := db.OpenJournal(ctx, b)
	var ce *CorruptError
	if j != nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), `step 1: place "`+work+`/a" -> "/tmp/atk/victim-secret/precious": "/tmp/atk/victim-secret/precious" is outside the prefix`) ||
		!strings.Contains(err.Error(), "nothing was touched") {
		t.Fatalf("OpenJournal of a journal outside the prefix = %+v, %v", j, err)
	}
	// A package recorded under /tmp/atk makes it the installation's.
	r := rec("x", "1.0.0")
	r.Prefix = "/tmp/atk"
	if err := db.Commit(ctx, Change{Put: []Package{{Record: r}}}); err != nil {
		t.Fatal(err)
	}
	if j, err := db.OpenJournal(ctx, b); err != nil || j == nil {
		t.Fatalf("OpenJournal with the prefix recorded = %+v, %v", j, err)
	}
}
