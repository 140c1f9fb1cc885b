package cache

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVictimsCountTheDisk: a sparse .part (an interrupted download, as
// long as its archive, with only the pieces that came) counts at the
// space it takes: with 1 MiB of a 30 MiB part written and a 2 MiB archive,
// a cache bound of 4 MiB holds and nothing is trimmed. Counted at its
// length, the part went over the bound.
func TestVictimsCountTheDisk(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old-1.0.0.tar.zst"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "big-1.0.0.tar.zst.part"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i) | 1 // not zeros: a file system may not store those
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(30 << 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	victims, err := Victims(dir, func(string) bool { return false }, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(victims) != 0 {
		t.Errorf("Victims within a 4 MiB bound of 3 MiB on disk = %+v, want none", victims)
	}
	// Over the bound, the part still goes first.
	victims, err = Victims(dir, func(string) bool { return false }, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(victims) != 1 || victims[0].Name != "big-1.0.0.tar.zst.part" {
		t.Errorf("Victims within 2 MiB = %+v, want the part alone", victims)
	}
}
