package catalog

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTimeSerial(t *testing.T) {
	tests := []struct {
		at   time.Time
		want int64
	}{
		{time.Date(2026, 12, 7, 20, 58, 0, 0, time.UTC), 20261207205800},
		{time.Date(2026, 12, 7, 20, 58, 0, 999_999_999, time.UTC), 20261207205800},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), 20261231235959},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 20270101000000},
		// The UTC time, whatever the zone given.
		{time.Date(2027, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), 20270101000000},
		{time.Time{}, 10101000000},
	}
	for _, tc := range tests {
		if got := TimeSerial(tc.at); got != tc.want {
			t.Errorf("TimeSerial(%s) = %d, want %d", tc.at, got, tc.want)
		}
	}
	// Ordered as the times are, a second at a time across a day's end.
	at := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	for range 120 {
		if next := at.Add(time.Second); TimeSerial(next) <= TimeSerial(at) {
			t.Fatalf("TimeSerial(%s) = %d, not above TimeSerial(%s) = %d", next, TimeSerial(next), at, TimeSerial(at))
		}
		at = at.Add(time.Second)
	}
}

// Each publication takes the serial after the one before, or the time's
// when that is higher, and above a floor given (a serial published).
func TestBumpSerialTakesTheTime(t *testing.T) {
	ctx := context.Background()
	noon := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		held   int64 // the catalog's serial before
		floor  int64
		at     time.Time
		want   int64
		reason string
	}{
		{"new catalog", 0, 0, noon, 20270301120000, "the time's"},
		{"small serial of an older catalog", 41, 0, noon, 20270301120000, "the time's, far above"},
		{"a second publication in the same second", 20270301120000, 0, noon, 20270301120001, "the one after"},
		{"ahead of the clock (a burst, a clock set back)", 20270301120500, 0, noon, 20270301120501, "never back"},
		{"a floor above both", 20270301115900, 20270301123000, noon, 20270301123001, "above the floor"},
		{"a floor below the time", 7, 9, noon, 20270301120000, "the time's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			db.now = func() time.Time { return tc.at }
			if _, err := db.sql.ExecContext(ctx, `UPDATE meta SET serial = ?`, tc.held); err != nil {
				t.Fatal(err)
			}
			m, err := db.BumpSerialAbove(ctx, tc.floor)
			if err != nil {
				t.Fatal(err)
			}
			if m.Serial != tc.want || !m.Created.Equal(tc.at) {
				t.Errorf("serial %d (held), floor %d, at %s: meta %+v, want serial %d (%s)", tc.held, tc.floor, tc.at, m, tc.want, tc.reason)
			}
		})
	}
}

// A backup of the working catalog restored and published again goes past
// every serial published since the backup, without knowing them: they
// were made earlier.
func TestRestoredBackupPublishesPastLaterSerials(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.db")
	clock := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	open := func(p string) *DB {
		t.Helper()
		db, err := Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		db.now = func() time.Time { return clock }
		return db
	}
	db := open(path)
	if _, err := db.Add(ctx, []Package{makePkg(t, "foo", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	backup := mustMeta(t, db)
	db.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// Two publications after the backup, the second in the same second.
	db = open(path)
	clock = clock.Add(time.Hour)
	var seen int64
	for _, v := range []string{"1.1.0", "1.2.0"} {
		if _, err := db.Add(ctx, []Package{makePkg(t, "foo", v, 10)}); err != nil {
			t.Fatal(err)
		}
		seen = mustMeta(t, db).Serial
	}
	db.Close()

	// The backup restored, a day later, publishes once.
	restored := filepath.Join(dir, "restored.db")
	if err := os.WriteFile(restored, data, 0o644); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(24 * time.Hour)
	db = open(restored)
	defer db.Close()
	if m := mustMeta(t, db); m.Serial != backup.Serial {
		t.Fatalf("restored meta %+v, want the backup's serial %d", m, backup.Serial)
	}
	if _, err := db.Add(ctx, []Package{makePkg(t, "bar", "1.0.0", 10)}); err != nil {
		t.Fatal(err)
	}
	if m := mustMeta(t, db); m.Serial <= seen {
		t.Errorf("restored backup (serial %d) published serial %d, want above %d, the highest published since the backup", backup.Serial, m.Serial, seen)
	}
}

// A serial at the top of int64 has no serial after it: every change that
// would publish says so, naming the catalog file and the serial, and
// writes nothing. SQLite's sum turned into a REAL there, and add failed
// with "constraint failed: cannot store REAL value in INTEGER column
// meta.serial".
func TestLastSerial(t *testing.T) {
	ctx := context.Background()
	const top = math.MaxInt64
	changes := map[string]func(*DB, int64) (Meta, error){
		"add": func(db *DB, floor int64) (Meta, error) {
			if floor != 0 {
				return db.BumpSerialAbove(ctx, floor) // Add has no floor
			}
			if _, err := db.Add(ctx, []Package{makePkg(t, "bar", "1.0.0", 10)}); err != nil {
				return Meta{}, err
			}
			return db.Meta(ctx)
		},
		"remove": func(db *DB, floor int64) (Meta, error) {
			if _, err := db.RemoveAllAbove(ctx, floor, []Ref{{"foo", "1.0.0"}}); err != nil {
				return Meta{}, err
			}
			return db.Meta(ctx)
		},
		"bump": func(db *DB, floor int64) (Meta, error) { return db.BumpSerialAbove(ctx, floor) },
	}
	tests := []struct {
		name        string
		held, floor int64
		want        int64  // the serial made, when it can be
		says        string // in the error, when it cannot
	}{
		{"the one before the top", top - 1, 0, top, ""},
		{"a floor the one before the top", 5, top - 1, top, ""},
		{"at the top", top, 0, 0, "is at serial 9223372036854775807, the highest a serial can be"},
		{"at the top with a floor", top, 7, 0, "is at serial 9223372036854775807"},
		{"a floor at the top", 5, top, 0, "must be published above serial 9223372036854775807, the one published"},
	}
	for _, tc := range tests {
		for op, change := range changes {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				db := openTemp(t)
				if _, err := db.Add(ctx, []Package{makePkg(t, "foo", "1.0.0", 10)}); err != nil {
					t.Fatal(err)
				}
				if _, err := db.sql.ExecContext(ctx, `UPDATE meta SET serial = ?`, tc.held); err != nil {
					t.Fatal(err)
				}
				m, err := change(db, tc.floor)
				if tc.says == "" {
					if err != nil || m.Serial != tc.want {
						t.Fatalf("serial %d, floor %d: meta %+v, %v; want serial %d", tc.held, tc.floor, m, err, tc.want)
					}
					return
				}
				if !errors.Is(err, ErrLastSerial) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), db.Path()) {
					t.Fatalf("serial %d, floor %d: %v; want ErrLastSerial naming %s and saying %q", tc.held, tc.floor, err, db.Path(), tc.says)
				}
				if m := mustMeta(t, db); m.Serial != tc.held {
					t.Errorf("serial %d after the refusal, want %d as it was", m.Serial, tc.held)
				}
				if _, err := db.Get(ctx, "foo", "1.0.0"); err != nil {
					t.Errorf("foo@1.0.0 after the refusal: %v; want it still there", err)
				}
			})
		}
	}
}
