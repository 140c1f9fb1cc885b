package catalog

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every serial carries its own validity: a publication made at t with
// ValidFor(d) is valid until t+d, and a bump restarts the clock.
func TestEverySerialIsStampedWithItsValidity(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "packages.db"), ValidFor(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := time.Unix(1800000000, 0)
	db.now = func() time.Time { return clock }

	tests := []struct {
		name string
		op   func() error
	}{
		{"add", func() error { _, err := db.Add(ctx, []Package{makePkg(t, "foo", "1.0.0", 10)}); return err }},
		{"bump", func() error { _, err := db.BumpSerial(ctx); return err }},
		{"remove", func() error { _, err := db.Remove(ctx, "foo", "1.0.0"); return err }},
	}
	for _, tc := range tests {
		clock = clock.Add(time.Hour)
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := mustMeta(t, db)
		if !m.Created.Equal(clock) || !m.ValidUntil.Equal(clock.Add(3*time.Second)) {
			t.Errorf("%s: meta = %+v, want created %s and valid until 3s later", tc.name, m, clock.UTC())
		}
		if m.Expired(clock.Add(3*time.Second)) || !m.Expired(clock.Add(4*time.Second)) {
			t.Errorf("%s: Expired is wrong around valid_until %s", tc.name, m.ValidUntil)
		}
	}
}

// A server upgraded from schema version 1 keeps its working catalog: Open
// migrates it, with the exact version-2 schema, the rows kept and the
// serial grown (the next publication's bytes differ from the last one's).
func TestOpenMigratesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	sdb, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{createMetaV1, createPackages, createNameIndex,
		`INSERT INTO meta (id, schema_version, serial, created) VALUES (1, 1, 41, 1700000000)`} {
		mustExec(t, sdb, stmt)
	}
	p := makePkg(t, "foo", "1.0.0", 10)
	if _, err := sdb.Exec(`INSERT INTO packages (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Version, p.Archive, p.Size, p.InstalledSize, p.SHA256, p.InfoHash, p.Magnet, p.Torrent,
		p.Description, p.License, p.Homepage, "[]", "[]", time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	sdb.Close()

	// A version-1 file from the network is refused, naming its age.
	if _, err := OpenReadOnly(ctx, path); err == nil {
		t.Fatal("OpenReadOnly accepted a version-1 catalog")
	}
	db, err := Open(ctx, path, ValidFor(time.Hour))
	if err != nil {
		t.Fatalf("Open of a version-1 catalog: %v", err)
	}
	defer db.Close()
	m := mustMeta(t, db)
	if m.SchemaVersion != 2 || m.Serial < TimeSerial(m.Created) || m.ValidUntil.Sub(m.Created) != time.Hour {
		t.Errorf("migrated meta = %+v, want version 2, serial at least %d (TimeSerial), valid for 1h", m, TimeSerial(m.Created))
	}
	if _, err := db.Get(ctx, "foo", "1.0.0"); err != nil {
		t.Errorf("row lost in the migration: %v", err)
	}
	snap := filepath.Join(t.TempDir(), "packages.db")
	if err := db.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, snap)
	if err != nil {
		t.Fatalf("snapshot of the migrated catalog: %v", err)
	}
	defer ro.Close()
	if err := ro.Check(ctx); err != nil {
		t.Errorf("snapshot of the migrated catalog: %v", err)
	}
}

// A catalog from the network whose validity ends before it was made is
// refused by Check.
func TestCheckRefusesBackwardValidity(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "packages.db")
	if err := os.WriteFile(path, sqliteWith(t, true, `UPDATE meta SET valid_until = created`), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(ctx); err == nil || !strings.Contains(err.Error(), "valid_until") {
		t.Fatalf("Check = %v, want valid_until named", err)
	}
}
