package swarm

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestUnverifiedSpansAfterDrop: an abandoned download reads the pieces to
// punch after it dropped the torrent (so that a piece verified while it
// was being dropped is kept), which needs a dropped torrent to keep the
// verifications it recorded. Were they lost at the drop, every piece
// would read as unverified and the whole .part would be freed.
func TestUnverifiedSpansAfterDrop(t *testing.T) {
	dir := t.TempDir()
	const size = 300<<10 + 7 // 5 pieces of 64 KiB
	path := filepath.Join(dir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, size)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, dir, 0)
	ih, err := e.Seed(context.Background(), meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	tor := e.torrents[ih]
	e.mu.Unlock()
	if spans := unverifiedSpans(tor); len(spans) != 0 {
		t.Fatalf("a verified seed has unverified spans %v", spans)
	}
	e.Drop(ih)
	if spans := unverifiedSpans(tor); len(spans) != 0 {
		t.Errorf("after the drop, unverified spans %v of a verified file: the .part would be freed whole", spans)
	}
}
