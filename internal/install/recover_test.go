package install

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// Recovery discards every work directory left in the data home's staging,
// but in the prefix's staging, which another data home installing into the
// same prefix shares, only this data home's: the other's may be an upgrade
// in progress holding the old files it set aside.
func TestRecoverDiscardsOnlyItsOwnWork(t *testing.T) {
	w := newWorld(t)
	c := w.client
	shared := filepath.Join(c.Config.Prefix, state.StagingDirName)
	mine := filepath.Join(shared, c.txnPrefix()+"123")
	theirs := filepath.Join(shared, "txn-0badc0de-456")
	private := filepath.Join(c.Paths.Staging(), "txn-789")
	for _, d := range []string{mine, theirs, private} {
		if err := os.MkdirAll(filepath.Join(d, "old"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := c.begin(context.Background(), "test", false)
	if err != nil {
		t.Fatal(err)
	}
	tx.close()
	for _, tt := range []struct {
		dir  string
		kept bool
	}{{mine, false}, {private, false}, {theirs, true}} {
		_, err := os.Stat(tt.dir)
		if kept := err == nil; kept != tt.kept {
			t.Errorf("%s kept = %v, want %v", tt.dir, kept, tt.kept)
		}
	}
	// Two data homes get different prefixes.
	other := *c
	other.Paths.Dir = c.Paths.Dir + "-2"
	if other.txnPrefix() == c.txnPrefix() {
		t.Errorf("two data homes share the work directory prefix %q", c.txnPrefix())
	}
}

// TestRecoverRefusesJournalOutsidePrefix: installed.db replaced by one
// whose open journal "places" a file of the user's (right inode, source
// absent) from a work directory. Undoing it renamed the file into the work
// directory and deleted it with it; now recovery refuses the journal,
// names the step and the path, and touches nothing, every later command
// included, until the user deals with the file.
func TestRecoverRefusesJournalOutsidePrefix(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c := w.client
	secret := filepath.Join(t.TempDir(), "victim-secret", "precious")
	if err := os.MkdirAll(filepath.Dir(secret), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(secret, &st); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(c.Paths.Staging(), "txn-1")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := state.Open(ctx, c.Paths.Installed(), c.Config.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", c.Paths.Installed())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO txn (id, work, committed) VALUES (1, ?, 0)`, []any{work}},
		{`INSERT INTO journal (seq, op, src, dst, ino) VALUES (0, 'place', ?, ?, ?)`, []any{work + "/a", secret, int64(st.Ino)}},
	} {
		if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	for range 2 {
		tx, err := c.begin(ctx, "test", false)
		if err == nil {
			tx.close()
			t.Fatal("recovery undid a journal that moves a file outside the prefix")
		}
		want := `step 1: place "` + work + `/a" -> "` + secret + `": "` + secret + `" is outside the prefix (the prefix is ` + c.Config.Prefix + `)`
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was touched") {
			t.Fatalf("recovery: %v\nwant it to say %q", err, want)
		}
		if b, err := os.ReadFile(secret); err != nil || string(b) != "mine" {
			t.Fatalf("the file outside the prefix: %q, %v", b, err)
		}
	}
}

// TestRecoverSaysWhat kills an upgrade of app 1.0.0 to 1.1.0 before its
// journal (its install.sh has run into staging), in its moves, and after
// its commit; Recover then says what it did: which command's change it
// finished or rolled back, with the packages and versions, which commands
// it found interrupted before they changed anything, which scripts had
// run (killed after install.sh, before any move, the upgrade is rolled
// back, never "interrupted before it changed anything") and which staging
// directories it removed. It said only "finished cleaning up after an
// interrupted dist-client", and nothing of the staging it removed.
func TestRecoverSaysWhat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	upgrade := []state.HistoryChange{{Name: "app", From: "1.0.0", To: "1.1.0"}}
	for _, tt := range []struct {
		at          string
		result      string
		changes     []state.HistoryChange
		interrupted int
		removed     int
		scripts     int
	}{
		{"staged", RecoveryRolledBack, []state.HistoryChange{}, 0, 1, 1},
		{"move#0", RecoveryRolledBack, upgrade, 0, 0, 1},
		{"finish", RecoveryFinished, upgrade, 0, 0, 0},
	} {
		t.Run(tt.at, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/a": "1", "scripts/install.sh": destdirScript("app")}))
			if err := w.client.Install(ctx, []string{"app"}); err != nil {
				t.Fatal(err)
			}
			w.publish(w.pkg("app", "1.1.0", map[string]string{"assets/a": "2", "scripts/install.sh": destdirScript("app")}))
			killedAt(t, w.dir, tt.at)

			w2 := worldAt(t, w.dir)
			// history, before the recovery and after it, shows the
			// upgrade's changes only when they were made: it showed the
			// upgrade rolled back, "app 1.0.0 -> 1.1.0 interrupted",
			// as though app had been upgraded.
			made := 0
			if tt.result == RecoveryFinished {
				made = len(upgrade)
			}
			lastChanges := func(when string) {
				t.Helper()
				h, err := w2.read().History(ctx, state.HistoryQuery{Last: 1})
				if err != nil || len(h) != 1 {
					t.Fatalf("history %s: %v, %v", when, h, err)
				}
				if len(h[0].Changes) != made {
					t.Errorf("history %s: %q %s with changes %v; want %d", when, h[0].Command, h[0].Result, h[0].Changes, made)
				}
			}
			lastChanges("before the recovery")
			rec, err := w2.client.Recover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lastChanges("after the recovery")
			if rec.Result != tt.result || !slices.Equal(rec.Changes, tt.changes) || len(rec.Interrupted) != tt.interrupted || len(rec.Removed) != tt.removed || len(rec.Scripts) != tt.scripts {
				t.Fatalf("Recover = %+v; want result %q, changes %v, %d interrupted, %d removed, %d scripts", rec, tt.result, tt.changes, tt.interrupted, tt.removed, tt.scripts)
			}
			if (tt.result != "") != (rec.Command != "") {
				t.Errorf("Recover named the command %q with result %q", rec.Command, rec.Result)
			}
			for _, d := range rec.Removed {
				if _, err := os.Stat(d); err == nil {
					t.Errorf("%s is said removed and is there", d)
				}
			}
			w2.consistent()
			// Once recovered, there is nothing left.
			if again, err := w2.client.Recover(ctx); err != nil || again.Pending() {
				t.Errorf("Recover again = %+v, %v; want nothing pending", again, err)
			}
		})
	}
}
