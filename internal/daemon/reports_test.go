package daemon

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
)

// TestFinishedReportsKeepEarlyArchives: the reports of a request's last
// event (the daemon's log line per archive and its metrics) say where
// each archive came from, however long before the last one it completed.
// They were read from the engine once every archive was in, and the
// engine forgets a download's report a while (swarm.Config.TransferKeep,
// a minute) after it ended: an archive done more than a minute before
// the last was logged and counted as already had, from no source.
func TestFinishedReportsKeepEarlyArchives(t *testing.T) {
	small, big := make([]byte, 32<<10), make([]byte, 768<<10)
	rand.NewChaCha8([32]byte{2}).Read(small)
	rand.NewChaCha8([32]byte{3}).Read(big)
	// A seeder capped at 256 KiB/s: the small archive comes within its
	// burst, the big one takes about three seconds, far past TransferKeep.
	seedDir := t.TempDir()
	seeder, err := swarm.New(swarm.Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", UploadRate: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	var rows []catalog.Package
	for _, a := range []struct {
		name string
		data []byte
	}{{"small", small}, {"big", big}} {
		row := archiveRow(t, seedDir, a.name, a.data, "http://127.0.0.1:1/announce", seeder.Addr())
		if _, err := seeder.Seed(context.Background(), row.Torrent, true); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	dir := t.TempDir()
	writeRows(t, dir, rows)
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	startDaemonWith(t, sock, dir, swarm.Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", TransferKeep: 100 * time.Millisecond})

	c := Dial(context.Background(), sock)
	if c == nil {
		t.Fatal("no daemon at the socket")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	completed := map[string]swarm.Transfer{}
	var finished []Report
	err = c.Download(ctx, Request{Items: []Item{{Name: "small", Version: "1.0.0"}, {Name: "big", Version: "1.0.0"}}}, 0, func(ev Event) {
		if ev.Completed != nil {
			completed[ev.Completed.Archive] = ev.Completed.Transfer
		}
		if ev.Finished {
			finished = ev.Reports
		}
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if len(finished) != len(rows) {
		t.Fatalf("the last event has %d reports, want %d: %+v", len(finished), len(rows), finished)
	}
	for _, r := range finished {
		c := completed[r.Archive]
		t.Logf("%s: completed %+v, finished %+v", r.Archive, c, r.Transfer)
		if r.FromSeeder == 0 || r.AlreadyHad != 0 || r.FromSeeder != c.FromSeeder || r.Elapsed != c.Elapsed {
			t.Errorf("%s: the last event reports %d bytes from the seeder, %d already had (took %v); its Completed event %d from the seeder (took %v)",
				r.Archive, r.FromSeeder, r.AlreadyHad, r.Elapsed, c.FromSeeder, c.Elapsed)
		}
	}
}
