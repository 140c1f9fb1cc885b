package cache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestTrim(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	files := []struct {
		name string
		size int
		age  time.Duration // older is used longer ago
	}{
		{"installed-1.0.0.tar.zst", 100, 10 * time.Hour},
		{"old-1.0.0.tar.zst", 100, 9 * time.Hour},
		{"mid-1.0.0.tar.zst", 100, 5 * time.Hour},
		{"new-1.0.0.tar.zst", 100, time.Hour},
		{"half-1.0.0.tar.zst.part", 50, 0},
	}
	tests := []struct {
		name    string
		max     int64
		removed []string
	}{
		{"no bound removes every file not kept", 0, []string{"half-1.0.0.tar.zst.part", "old-1.0.0.tar.zst", "mid-1.0.0.tar.zst", "new-1.0.0.tar.zst"}},
		{"partial and least recently used first", 300, []string{"half-1.0.0.tar.zst.part", "old-1.0.0.tar.zst"}},
		{"already within the bound", 1000, nil},
		{"never below what is kept", 10, []string{"half-1.0.0.tar.zst.part", "old-1.0.0.tar.zst", "mid-1.0.0.tar.zst", "new-1.0.0.tar.zst"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range files {
				p := filepath.Join(dir, f.name)
				if err := os.WriteFile(p, make([]byte, f.size), 0o644); err != nil {
					t.Fatal(err)
				}
				when := base.Add(-f.age)
				os.Chtimes(p, when, when)
			}
			os.Mkdir(filepath.Join(dir, "subdir"), 0o755)
			keep := func(n string) bool { return n == "installed-1.0.0.tar.zst" }
			// Victims (clean --dry-run) names what Trim removes, in its
			// order, and removes nothing.
			would, err := Victims(dir, keep, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			var wouldNames []string
			for _, e := range would {
				wouldNames = append(wouldNames, e.Name)
				if _, err := os.Stat(filepath.Join(dir, e.Name)); err != nil {
					t.Errorf("Victims removed %s: %v", e.Name, err)
				}
			}
			if !slices.Equal(wouldNames, tc.removed) {
				t.Errorf("Victims = %v, want %v", wouldNames, tc.removed)
			}
			got, err := Trim(dir, keep, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got {
				names = append(names, e.Name)
				if _, err := os.Stat(filepath.Join(dir, e.Name)); !os.IsNotExist(err) {
					t.Errorf("%s still there", e.Name)
				}
			}
			if !slices.Equal(names, tc.removed) {
				t.Errorf("removed %v, want %v", names, tc.removed)
			}
			if _, err := os.Stat(filepath.Join(dir, "installed-1.0.0.tar.zst")); err != nil {
				t.Error("removed a kept file")
			}
		})
	}
}
