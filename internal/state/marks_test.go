package state

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnstartedScripts: a note is known never to have started when the
// marks hold its "noted" line and no "started" line after the last one:
// a process that marked its start (StartedMark, as script.Run's gate
// writes it) started, whatever came before; an ID noted again after its
// note was settled is the new note's; a note without a "noted" line (an
// older dist-client's) may have started; marks that are not dist-client's
// tell nothing.
func TestUnstartedScripts(t *testing.T) {
	ctx := context.Background()
	var t1 *testing.T // the subtest's
	started := func(db *DB, id int64) {
		t := t1
		f, err := db.OpenMarks()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(StartedMark(id) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	note := func(db *DB) int64 {
		t := t1
		id, err := db.NoteScript(ctx, noteOf("app", "1.0.0", ScriptInstall))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, tt := range []struct {
		name    string
		do      func(db *DB) []int64 // returns the IDs it expects unstarted
		wantErr bool
	}{
		{"none noted", func(db *DB) []int64 { return nil }, false},
		{"noted, never started", func(db *DB) []int64 { return []int64{note(db)} }, false},
		{"noted and started", func(db *DB) []int64 { started(db, note(db)); return nil }, false},
		{"the first started, the last not", func(db *DB) []int64 {
			a := note(db)
			started(db, a)
			return []int64{note(db)}
		}, false},
		{"an ID noted again after its note was settled", func(db *DB) []int64 {
			a := note(db)
			b := note(db)
			started(db, b)
			if err := db.SettleScripts(ctx, b); err != nil {
				t.Fatal(err)
			}
			again := note(db)
			if again != b {
				t.Fatalf("the ID %d was not taken again (got %d): the case tests nothing", b, again)
			}
			started(db, a)
			return []int64{again}
		}, false},
		{"emptied by the first note after all were settled", func(db *DB) []int64 {
			a := note(db)
			if err := db.SettleScripts(ctx, a); err != nil {
				t.Fatal(err)
			}
			b := note(db)
			started(db, b)
			b2, _ := os.ReadFile(db.marksPath())
			if string(b2) != notedMark(b)+"\n"+StartedMark(b)+"\n" {
				t.Fatalf("marks %q, want only the new note's", b2)
			}
			return nil
		}, false},
		{"a note of an older dist-client", func(db *DB) []int64 {
			execRaw(t, db.Path(), `INSERT INTO scripts (name, version, script, archive, sha256, size, prefix, pgid, started, boot, ran) VALUES ('app', '1.0.0', 'install.sh', 'app-1.0.0.tar.zst', ?, 10, '/opt/p', 0, 0, '', 0)`, noteOf("app", "1.0.0", ScriptInstall).SHA256)
			return nil
		}, false},
		{"a line not dist-client's", func(db *DB) []int64 {
			note(db)
			os.WriteFile(db.marksPath(), []byte("noted 1\nstarted one\n"), 0o600)
			return nil
		}, true},
		{"a line longer than a line is read", func(db *DB) []int64 {
			// Its note started: what follows the long line says so.
			id := note(db)
			f, _ := db.OpenMarks()
			f.WriteString(strings.Repeat("x", 70<<10) + "\n")
			f.Close()
			started(db, id)
			return nil
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t1 = t
			db, _ := openTest(t)
			want := map[int64]bool{}
			for _, id := range tt.do(db) {
				want[id] = true
			}
			got, err := db.UnstartedScripts()
			if tt.wantErr {
				// Marks that cannot be read tell of no note that never
				// started: the recovery takes each as started.
				if err == nil || len(got) > 0 {
					t.Fatalf("UnstartedScripts = %v, %v; want an error and none", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("UnstartedScripts = %v, %v; want %v", got, err, want)
			}
		})
	}
}

// TestMarksNotFollowed: a symlink in the marks' place is not written
// through, and a FIFO is not waited on (an open for writing waits for a
// reader).
func TestMarksNotFollowed(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		db, _ := openTest(t)
		if err := syscall.Mkfifo(db.marksPath(), 0o600); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.NoteScript(context.Background(), noteOf("app", "1.0.0", ScriptInstall))
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("NoteScript wrote to a FIFO")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("NoteScript waits on a FIFO")
		}
		if f, err := db.OpenMarks(); err == nil {
			f.Close()
			t.Fatal("OpenMarks opened a FIFO")
		}
	})
	db, _ := openTest(t)
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Symlink(target, db.marksPath()); err != nil {
		t.Fatal(err)
	}
	if f, err := db.OpenMarks(); err == nil {
		f.Close()
		t.Fatal("OpenMarks followed a symlink")
	}
	if _, err := db.NoteScript(context.Background(), noteOf("app", "1.0.0", ScriptInstall)); err == nil {
		t.Fatal("NoteScript wrote through a symlink")
	}
	if _, err := os.Lstat(target); err == nil {
		t.Fatal("the symlink's target was made")
	}
}

// TestMarksNotRegularSaid: something other than a regular file in the
// marks' place (a directory, a symlink, a FIFO) is said as what it is,
// with the path once and what to do, by OpenMarks and NoteScript alike:
// "is a directory" came with the path twice, and a symlink read "too many
// levels of symbolic links", a FIFO "no such device or address".
func TestMarksNotRegularSaid(t *testing.T) {
	for _, tt := range []struct {
		kind string
		make func(path string) error
	}{
		{"a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"a symlink", func(p string) error { return os.Symlink(filepath.Join(filepath.Dir(p), "elsewhere"), p) }},
		{"a FIFO", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			db, _ := openTest(t)
			if err := tt.make(db.marksPath()); err != nil {
				t.Skip(err)
			}
			f, err := db.OpenMarks()
			if err == nil {
				f.Close()
			}
			_, nerr := db.NoteScript(context.Background(), noteOf("app", "1.0.0", ScriptInstall))
			for _, err := range []error{err, nerr} {
				if err == nil {
					t.Fatalf("opened %s as the marks", tt.kind)
				}
				msg := err.Error()
				if !strings.Contains(msg, "not a regular file ("+tt.kind+")") || strings.Count(msg, db.marksPath()) != 1 || !strings.Contains(msg, "remove it") {
					t.Errorf("error %q: want it to say %s is there, the path once, and to remove it", msg, tt.kind)
				}
			}
		})
	}
}
