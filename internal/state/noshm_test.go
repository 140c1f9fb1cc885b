package state

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenReadWithoutSharedMemory: when the -shm file cannot be made (a
// full disk refuses its growth; here a symlink stands in its way, which
// SQLite will not follow), a
// reader still reads the state, committed transactions still in the WAL
// included. Before, every read-only command failed with the disk's error.
func TestOpenReadWithoutSharedMemory(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		inWAL   bool // a committed transaction left in the WAL (a writer killed before its checkpoint)
		blocked bool // the -shm file cannot be made
		want    []string
	}{
		{name: "no WAL, no -shm possible", blocked: true, want: []string{"foo"}},
		{name: "committed data in the WAL, no -shm possible", inWAL: true, blocked: true, want: []string{"bar", "foo"}},
		{name: "committed data in the WAL", inWAL: true, want: []string{"bar", "foo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, path := openTest(t)
			if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("foo", "1.0.0")}}}); err != nil {
				t.Fatal(err)
			}
			if !tt.inWAL {
				db.Close() // the last connection checkpoints and removes the WAL and the -shm
			} else if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("bar", "1.0.0")}}}); err != nil {
				t.Fatal(err)
			}
			// A copy of the files as a kill -9 of the writer would leave
			// them: the database, the WAL (when there is one), no -shm.
			dir := filepath.Join(t.TempDir(), "copy")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			cp := filepath.Join(dir, "installed.db")
			copyFile(t, path, cp)
			if tt.inWAL {
				copyFile(t, path+"-wal", cp+"-wal")
				if fi, err := os.Stat(cp + "-wal"); err != nil || fi.Size() == 0 {
					t.Fatalf("no committed transaction in the WAL to read (%v)", err)
				}
			}
			if tt.blocked {
				if err := os.Symlink(filepath.Join(dir, "nowhere"), cp+"-shm"); err != nil {
					t.Fatal(err)
				}
			}
			st, err := Load(cp)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			for _, r := range st.Sorted() {
				got = append(got, r.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("read %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOpenReadAloneWaitsForWriters: the exclusive fallback never reads
// while another connection is open (which could commit or checkpoint
// under it): it waits for the database and fails as busy.
func TestOpenReadAloneWaitsForWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 10 s busy timeout")
	}
	ctx := context.Background()
	db, path := openTest(t)
	if err := db.Commit(ctx, Change{Put: []Package{{Record: rec("foo", "1.0.0")}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	alone, err := openFile(ctx, path, true)
	if err == nil {
		alone.Close()
		t.Fatal("opened alone while another connection has the database open")
	}
	if !strings.Contains(err.Error(), "database is locked") || time.Since(start) < 9*time.Second {
		t.Fatalf("after %v: %v, want busy after the busy timeout", time.Since(start), err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
