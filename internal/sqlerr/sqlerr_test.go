package sqlerr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	_ "modernc.org/sqlite"
)

func TestEnvironmental(t *testing.T) {
	dir := t.TempDir()
	// A database whose file is not a database: content.
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, []byte("this is not a SQLite database, and it is long enough to hold a header of 100 bytes........................................"), 0o600)
	db, err := sql.Open("sqlite", bad)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, notADB := db.ExecContext(context.Background(), "SELECT * FROM sqlite_master")
	// A database in a directory that does not exist: the environment.
	gone, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "no", "such", "x.db")+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	_, cantOpen := gone.ExecContext(context.Background(), "SELECT 1 FROM sqlite_master")
	// A syntax error: neither environment nor damage, and not environmental.
	good, _ := sql.Open("sqlite", filepath.Join(dir, "good.db"))
	defer good.Close()
	_, syntax := good.ExecContext(context.Background(), "SELEC 1")

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"not a database", notADB, false},
		{"cannot open", cantOpen, true},
		{"syntax", syntax, false},
		{"wrapped cannot open", fmt.Errorf("open: %w", cantOpen), true},
		{"path error", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOSPC}, true},
		{"errno", fmt.Errorf("write: %w", syscall.EIO), true},
		{"plain", errors.New("invalid catalog row"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if tt.err == nil && tt.name != "nil" {
			t.Fatalf("%s: no error to test", tt.name)
		}
		if got := Environmental(tt.err); got != tt.want {
			t.Errorf("%s (%v): Environmental = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
	// CannotWrite: SQLite's own errors of a place to write only (the
	// state's readers then try again without the -shm file).
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"cannot open", fmt.Errorf("open: %w", cantOpen), true},
		{"not a database", notADB, false},
		{"syntax", syntax, false},
		{"path error", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOSPC}, false},
		{"nil", nil, false},
	} {
		if got := CannotWrite(tt.err); got != tt.want {
			t.Errorf("%s (%v): CannotWrite = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
