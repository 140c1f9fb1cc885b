package state

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// userVersion reads the file's PRAGMA user_version, where the journal's
// format is kept.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	d, _ := dsn(path, "_busy_timeout=1000")
	raw, err := sql.Open("sqlite", d)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJournalFormat: BeginJournal writes the journal's format; an older
// dist-client's journal (no format: user_version 0) is read as this
// format; one of a newer dist-client's format is refused, naming the file
// and both formats, rather than read as this one's steps (a step whose
// meaning changed would be misapplied). Before, no format was written
// and any journal was read as this binary's.
func TestJournalFormat(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		version int // user_version set after BeginJournal; -1 keeps it
		wantErr string
	}{
		{name: "this dist-client's", version: -1},
		{name: "an older dist-client's: no format", version: 0},
		{name: "a newer dist-client's", version: JournalFormat + 1,
			wantErr: fmt.Sprintf("was written by a newer dist-client (format %d, this one reads up to %d): run the newer dist-client's recover", JournalFormat+1, JournalFormat)},
		{name: "damaged: negative", version: -5, wantErr: "journal format -5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, path := openTest(t)
			work := filepath.Join(filepath.Dir(path), "staging", "txn-1")
			j := Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"}}}
			b := Bounds{Staging: filepath.Dir(work), Prefixes: []string{"/opt/p"}}
			if err := db.BeginJournal(ctx, j, b); err != nil {
				t.Fatal(err)
			}
			if v := userVersion(t, path); v != JournalFormat {
				t.Fatalf("BeginJournal wrote format %d, want %d", v, JournalFormat)
			}
			if tc.version != -1 {
				db.Close()
				execRaw(t, path, fmt.Sprintf(`PRAGMA user_version = %d`, tc.version))
				var err error
				if db, err = Open(ctx, path, "/opt/p"); err != nil {
					t.Fatalf("Open with a journal of format %d: %v", tc.version, err)
				}
				defer db.Close()
			}
			got, err := db.OpenJournal(ctx, b)
			if tc.wantErr == "" {
				if err != nil || got == nil || len(got.Ops) != 1 || got.Ops[0] != j.Ops[0] {
					t.Fatalf("OpenJournal = %+v, %v; want the journal", got, err)
				}
				return
			}
			if err == nil || got != nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("OpenJournal = %+v, %v; want an error naming %s and saying %q", got, err, path, tc.wantErr)
			}
		})
	}
}

// TestJournalFormatEndsWithTheJournal: the format goes when the journal
// ends, so that none is left at rest for the next journal, which a
// dist-client from before formats writes without one: a newer
// dist-client's format left behind would have that journal refused as
// newer. Before, user_version stayed at the last journal's format.
func TestJournalFormatEndsWithTheJournal(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	defer db.Close()
	work := filepath.Join(filepath.Dir(path), "staging", "txn-1")
	j := Journal{Work: work, Ops: []Op{{Kind: OpPlace, Src: work + "/0/bin/x", Dst: "/opt/p/bin/x"}}}
	if err := db.BeginJournal(ctx, j, Bounds{Staging: filepath.Dir(work), Prefixes: []string{"/opt/p"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.EndJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, path); v != 0 {
		t.Fatalf("user_version after EndJournal = %d, want 0", v)
	}
}

// TestNewerSchemaRefused: a state database of a newer dist-client's
// schema (meta's schema_version above SchemaVersion) is refused by Open
// and by OpenRead, naming the file and both versions, before a query runs
// against tables this one does not know.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	db.Close()
	execRaw(t, path, `UPDATE meta SET schema_version = ?`, SchemaVersion+1)
	want := fmt.Sprintf("installed state %s: schema version %d was written by a newer dist-client (this one reads %d): upgrade dist-client", path, SchemaVersion+1, SchemaVersion)
	if db, err := Open(ctx, path, "/opt/p"); err == nil || err.Error() != want {
		if err == nil {
			db.Close()
		}
		t.Errorf("Open: %v\nwant %s", err, want)
	}
	if db, _, err := OpenRead(ctx, path); err == nil || err.Error() != want {
		if err == nil {
			db.Close()
		}
		t.Errorf("OpenRead: %v\nwant %s", err, want)
	}
}
