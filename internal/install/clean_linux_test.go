package install

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestCleanCountsSparsePart: an interrupted download's .part is as long
// as its archive and holds only the pieces that came (sparse); clean
// counts the space it frees, its blocks, and says its length beside. It
// counted the length: 28.8 MiB where 6.3 MiB was on disk, the install
// having said 5.9 MiB was kept (a newcomer's run).
func TestCleanCountsSparsePart(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if err := os.MkdirAll(w.client.Paths.Cache(), 0o755); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(w.client.Paths.Cache(), "big-1.0.0.tar.zst.part")
	const length, written = 30 << 20, 1 << 20
	f, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, written)
	rand.Read(b)
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(length); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, dryRun := range []bool{true, false} {
		got, err := w.client.Clean(ctx, dryRun)
		if err != nil || len(got) != 1 {
			t.Fatalf("Clean(dry run %v) = %+v, %v", dryRun, got, err)
		}
		if c := got[0]; c.Path != part || c.Bytes < written || c.Bytes > written+64<<10 || c.Length != length {
			t.Errorf("Clean(dry run %v) = %+v, want %d bytes freed (its blocks) of a length of %d", dryRun, c, written, length)
		}
	}
}
