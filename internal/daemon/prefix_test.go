package daemon

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
)

// A download through the daemon reports the archive's complete prefix as
// it grows (Event.Prefix), before the archive is complete, and every
// prefix it reports is already on disk with the archive's bytes: an
// install unpacks that far while the rest arrives (internal/fetch's
// arriving.go), and reads nothing the daemon has not verified.
func TestDownloadSendsPrefixAsItGrows(t *testing.T) {
	const size = 2 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)

	// A seeder capped at 1 MiB/s: the download takes about two seconds,
	// and the prefix grows by prefixStep (256 KiB) about eight times.
	seedDir := t.TempDir()
	seeder, err := swarm.New(swarm.Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", UploadRate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	row := archiveRow(t, seedDir, "foo", data, "http://127.0.0.1:1/announce", seeder.Addr())
	if _, err := seeder.Seed(context.Background(), row.Torrent, true); err != nil {
		t.Fatal(err)
	}
	dir, cache := t.TempDir(), t.TempDir()
	writeRows(t, dir, []catalog.Package{row})
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemonIn(t, sock, dir, cache)

	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon at the socket")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var prefixes []int64
	completed := false
	err = c.Download(ctx, Request{Items: []Item{{Name: "foo", Version: "1.0.0"}}}, 0, func(ev Event) {
		if p, ok := ev.Prefix[row.Archive]; ok {
			if completed {
				t.Errorf("a prefix of %d bytes after the archive was reported complete", p)
			}
			prefixes = append(prefixes, p)
			// What the install would read now: the file still
			// downloading (or, at the very end, renamed).
			got, err := os.ReadFile(filepath.Join(cache, row.Archive+".part"))
			if os.IsNotExist(err) {
				got, err = os.ReadFile(filepath.Join(cache, row.Archive))
			}
			switch {
			case err != nil:
				t.Errorf("prefix %d reported, and the file cannot be read: %v", p, err)
			case int64(len(got)) < p || !bytes.Equal(got[:p], data[:p]):
				t.Errorf("prefix %d reported, but the file on disk does not start with the archive's first %d bytes", p, p)
			}
		}
		if ev.Completed != nil && ev.Completed.Archive == row.Archive {
			completed = true
		}
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if !completed {
		t.Fatal("the download finished without a Completed event for the archive")
	}
	t.Logf("prefixes reported: %v", prefixes)
	if len(prefixes) < 3 {
		t.Fatalf("%d prefixes reported before the archive was complete (%v); want it to grow in steps of %d bytes", len(prefixes), prefixes, prefixStep(size))
	}
	for i, p := range prefixes {
		if p <= 0 || p >= size || (i > 0 && p <= prefixes[i-1]) {
			t.Fatalf("prefixes %v: want each in (0, %d) and growing", prefixes, size)
		}
	}
}
