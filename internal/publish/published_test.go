package publish_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// A server reads the published pair while `dist-server add` (another
// process) publishes the next one. Whatever ReadPublished returns, its
// bytes must carry the serial it claims: the old code read the bytes, then
// had SQLite read the serial from the file, and a rename in between served
// the old catalog under the new serial until the next publication.
func TestReadPublishedDuringPublications(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, err := signing.LoadOrCreate(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(ctx, filepath.Join(dir, "working.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	public := filepath.Join(dir, "public")
	if err := publish.Publish(ctx, db, key, public); err != nil {
		t.Fatal(err)
	}
	const publications = 60
	var wg sync.WaitGroup
	done, stop := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for range publications {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.BumpSerial(ctx); err != nil {
				t.Error(err)
				return
			}
			if err := publish.Publish(ctx, db, key, public); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads, mismatch := 0, ""
	check := filepath.Join(dir, "check.db")
	for running := true; running && mismatch == "" && !t.Failed(); {
		select {
		case <-done:
			running = false
		default:
		}
		m, err := db.Meta(ctx)
		if err != nil {
			t.Error(err)
			break
		}
		snap, err := publish.ReadPublished(ctx, public, key.Public(), m.Serial)
		if err != nil {
			continue // not published yet, or a pair mid-rename: the server repairs or waits
		}
		reads++
		gm, err := metaOf(ctx, check, snap.DB)
		if err != nil {
			t.Error(err)
			break
		}
		if gm.Serial != snap.Serial || gm.Serial != snap.Meta.Serial {
			mismatch = fmt.Sprintf("ReadPublished returned serial %d (meta %d) with the bytes of serial %d", snap.Serial, snap.Meta.Serial, gm.Serial)
		}
	}
	close(stop)
	wg.Wait()
	if mismatch != "" {
		t.Fatal(mismatch)
	}
	if reads == 0 {
		t.Fatal("no read succeeded during the publications")
	}
	t.Logf("%d reads during %d publications", reads, publications)
}

// metaOf reads the meta row of the catalog bytes data, through the file path.
func metaOf(ctx context.Context, path string, data []byte) (catalog.Meta, error) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return catalog.Meta{}, err
	}
	db, err := catalog.OpenReadOnly(ctx, path)
	if err != nil {
		return catalog.Meta{}, err
	}
	defer db.Close()
	return db.Meta(ctx)
}
