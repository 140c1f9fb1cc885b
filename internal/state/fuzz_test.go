package state

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stateBytes is a small valid installed.db.
func stateBytes(f *testing.F) []byte {
	f.Helper()
	ctx := context.Background()
	path := filepath.Join(f.TempDir(), "installed.db")
	db, err := Open(ctx, path, "/opt/p")
	if err != nil {
		f.Fatal(err)
	}
	r := rec("foo", "1.0.0")
	r.Depends = []string{"bar ^1"}
	err = db.Commit(ctx, Change{Put: []Package{{Record: r, Files: []File{
		{Path: "bin", Type: TypeDir, Mode: 0o755, Created: true},
		{Path: "bin/foo", Type: TypeFile, Mode: 0o755, Size: 3, SHA256: sum},
	}}}})
	if err == nil {
		_, err = db.StartHistory(ctx, "install foo")
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzLoadLegacy feeds arbitrary bytes to the reader of installed.json
// version 1: it must fail cleanly, never panic, and every record it accepts
// must pass validation.
func FuzzLoadLegacy(f *testing.F) {
	f.Add([]byte(`{"version": 1, "packages": [{"name": "foo", "version": "1.0.0", "archive": "foo-1.0.0.tar.zst", "sha256": "` + sum + `", "depends": ["bar ^1"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := parseLegacy("installed.json", data)
		if err != nil {
			if !strings.Contains(err.Error(), "installed.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			r.Prefix = "/legacy"
			if err := ValidateRecord(r); err != nil {
				t.Fatalf("accepted an invalid record: %v", err)
			}
			if seen[r.Name] {
				t.Fatalf("accepted %q twice", r.Name)
			}
			seen[r.Name] = true
		}
	})
}

// FuzzLoad feeds arbitrary bytes to the state loader as installed.db and as
// installed.json: it must fail cleanly, never panic, and whatever it accepts
// must pass validation. SQLite under the fuzzer's instrumentation runs a
// few inputs a second (as the catalog's FuzzOpenCheck); FuzzLoadLegacy
// covers the JSON reader fast.
func FuzzLoad(f *testing.F) {
	good := stateBytes(f)
	f.Add(good, false)
	f.Add(good[:len(good)/2], false)
	f.Add([]byte("SQLite format 3\x00"), false)
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		ctx := context.Background()
		dir := t.TempDir()
		path := filepath.Join(dir, "installed.db")
		name := path
		if legacy {
			name = filepath.Join(dir, LegacyFile)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := Load(path)
		if err != nil {
			return
		}
		for _, r := range st.Sorted() {
			if legacy {
				r.Prefix = "/legacy"
			}
			if err := ValidateRecord(r); err != nil {
				t.Fatalf("Load accepted an invalid record: %v", err)
			}
		}
		if legacy {
			return
		}
		db, ok, err := OpenRead(ctx, path)
		if err != nil || !ok {
			return
		}
		defer db.Close()
		for _, r := range st.Sorted() {
			files, err := db.Files(ctx, r.Name)
			if err != nil {
				continue
			}
			for _, fl := range files {
				if err := ValidateFile(fl); err != nil {
					t.Fatalf("Files accepted an invalid entry: %v", err)
				}
			}
		}
		_, _ = db.History(ctx, HistoryQuery{Transfer: true})
		_, _ = db.OpenJournal(ctx, Bounds{Staging: "/d/client/staging", Prefixes: []string{"/opt/p"}})
	})
}
