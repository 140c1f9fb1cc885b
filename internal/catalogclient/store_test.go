package catalogclient

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// A catalog of the serial held replaces it (after a change of trust, or a
// repair) without removing the held one first: the link always points at a
// complete catalog, for readers without the lock and after a crash. Before,
// catalog-<serial> was removed and then the new one renamed to its name.
func TestSameSerialReplacesWithoutGap(t *testing.T) {
	dir := t.TempDir()
	s := &syncer{dir: dir, log: slog.New(slog.DiscardHandler)}
	put := func(content string) string {
		t.Helper()
		tmp := filepath.Join(dir, tmpPrefix+"packages.db-test")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		name, err := s.install(&download{tmp: tmp, sig: []byte("sig " + content)}, 5)
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	held := func() string { // what a reader finds through the link
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, catalogLink, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if name := put("first"); name != "catalog-5" {
		t.Fatalf("first install in %s", name)
	}
	name := put("second")
	if name != "catalog-5.1" || held() != "second" {
		t.Fatalf("second install of serial 5 in %s, holding %q", name, held())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "catalog-5", dbFile)); err != nil || string(b) != "first" {
		t.Fatalf("the catalog held before was touched before the swap: %q, %v", b, err)
	}
	s.removeOldVersions(name)
	if name := put("third"); name != "catalog-5" || held() != "third" {
		t.Fatalf("third install of serial 5 in %s, holding %q", name, held())
	}
	s.removeOldVersions("catalog-5")
	if got, want := names(t, dir), []string{"catalog", "catalog-5"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
}
